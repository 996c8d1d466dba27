// examples/melanoma/classifier.hpp - how the melanoma program scores a classifier: the class probabilities of
// every image (optionally averaged over the four flips), the confusion matrix and the loss of one model or of an
// ensemble. Built on ember::train::evaluate, which knows nothing of images or classes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <ember/data/loader.hpp>
#include <ember/nn/module.hpp>
#include <ember/train/evaluate.hpp>
#include <ember/train/metrics.hpp>

namespace melanoma {

/// What scoring a classifier on a set of images gives: the mean cross-entropy, the confusion matrix, each image's
/// class probabilities [N, classes] and its true class, in the source's order.
struct Evaluation {
    double loss = 0;
    ember::train::ConfusionMatrix confusion{1};
    ember::Tensor<float> probabilities;
    std::vector<std::int32_t> labels;
};

/// Test-time augmentation: `flips` averages the class probabilities of each image over its four flips (as is,
/// left-right, top-bottom, both) - exact permutations of the pixels, which a model trained with Keras' RandomFlip
/// has seen - at four times the cost.
enum class TestTimeAugment { none, flips };

/// Parses "none" | "flips"; ember::ValueError naming the choices otherwise.
TestTimeAugment parse_test_time_augment(const std::string& name);

/// Class probabilities [N, classes] of the images x [N, H, W, C]: the softmax of the model's logits, or with
/// `flips` their mean over the four flips of each image. Runs the model as it is (eval() it and hold a
/// NoGradGuard for inference).
ember::Tensor<float> predict_probabilities(ember::nn::Module<float>& model, const ember::Tensor<float>& x,
                                           TestTimeAugment tta = TestTimeAugment::none);

/// Scores `model` in inference mode over one epoch of `source` (images, class indices): the unweighted
/// cross-entropy of the (averaged) probabilities, the confusion matrix of their arg-max and the probabilities.
Evaluation evaluate(ember::nn::Module<float>& model, ember::data::BatchSource<float>& source, int classes,
                    TestTimeAugment tta = TestTimeAugment::none);

/// The Evaluation of logits and targets fit() already computed (TrainContext::validation), with `loss` as given.
Evaluation from_outputs(const ember::train::Evaluation<float>& ev, int classes);

/// An ensemble: the mean of the members' probabilities (each an evaluate() of one model over the same images in
/// the same order), with the predictions and the loss (Keras' cross-entropy of probabilities, clipped to
/// [1e-7, 1]) taken from that mean. ember::ValueError when the members saw different images.
Evaluation ensemble(const std::vector<Evaluation>& members);

}  // namespace melanoma
