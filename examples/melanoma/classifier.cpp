// examples/melanoma/classifier.cpp - scoring a classifier: probabilities, test-time flips, confusion matrix, loss
// and ensembles (classifier.hpp).
#include "classifier.hpp"

#include <algorithm>
#include <cmath>
#include <utility>

#include <ember/autograd/softmax.hpp>
#include <ember/nn/loss.hpp>
#include <ember/vision/augment.hpp>

namespace melanoma {

using ember::index_t;
using ember::Tensor;

TestTimeAugment parse_test_time_augment(const std::string& name) {
    if (name == "none") return TestTimeAugment::none;
    if (name == "flips") return TestTimeAugment::flips;
    throw ember::ValueError("unknown test-time augmentation '" + name + "': expected none or flips");
}

namespace {
/// A copy of the NHWC batch x flipped left-right and/or top-bottom.
Tensor<float> flipped(const Tensor<float>& x, bool horizontal, bool vertical) {
    EMBER_CHECK(x.rank() == 4, ember::ShapeError, "test-time flips: expected images [N, H, W, C], got ", x.shape());
    Tensor<float> out = x.clone();
    const index_t image = x.numel() / std::max<index_t>(x.size(0), 1);
    for (index_t i = 0; i < x.size(0); ++i)
        ember::vision::flip(out.data() + i * image, static_cast<int>(x.size(1)), static_cast<int>(x.size(2)),
                            static_cast<int>(x.size(3)), horizontal, vertical);
    return out;
}

/// Keras' cross-entropy of probabilities p [classes] for class y: -log(clip(p[y], 1e-7, 1)).
double clipped_log_loss(const float* p, std::int32_t y) {
    return -std::log(std::clamp(static_cast<double>(p[y]), 1e-7, 1.0));
}
}  // namespace

namespace {
/// p = softmax(model(x)) becomes the mean of it and the softmax of x's three flipped copies.
void average_flips(ember::nn::Module<float>& model, const Tensor<float>& x, Tensor<float>& p) {
    for (const auto& [h, v] : {std::pair{true, false}, std::pair{false, true}, std::pair{true, true}}) {
        const Tensor<float> q = ember::softmax(model(flipped(x, h, v)));
        for (index_t i = 0; i < p.numel(); ++i) p.data()[i] += q.data()[i];
    }
    for (auto& v : p.span()) v /= 4.0f;
}
}  // namespace

Tensor<float> predict_probabilities(ember::nn::Module<float>& model, const Tensor<float>& x, TestTimeAugment tta) {
    Tensor<float> p = ember::softmax(model(x));
    if (tta == TestTimeAugment::flips) average_flips(model, x, p);
    return p;
}

Evaluation evaluate(ember::nn::Module<float>& model, ember::data::BatchSource<float>& source, int classes,
                    TestTimeAugment tta) {
    struct RestoreMode {  // the model's mode as it was, also when scoring throws
        ember::nn::Module<float>& m;
        bool training;
        ~RestoreMode() { m.train(training); }
    } restore{model, model.is_training()};
    model.eval();
    ember::NoGradGuard no_grad;
    Evaluation ev;
    ev.confusion = ember::train::ConfusionMatrix(classes);
    std::vector<float> probs;
    double loss_sum = 0;
    source.start_epoch(0);
    ember::data::Batch<float> b;
    while (source.next(b)) {
        const Tensor<float> logits = model(b.inputs);
        EMBER_CHECK(logits.rank() == 2 && logits.size(1) == classes, ember::ShapeError, "evaluate: the model gives ",
                    logits.shape(), ", expected [N, ", classes, "]");
        const auto labels = ember::nn::class_indices(b.targets);
        for (std::size_t i = 0; i < labels.size(); ++i)
            EMBER_CHECK(labels[i] >= 0 && labels[i] < classes, ember::IndexError, "evaluate: label ", labels[i],
                        " of batch image ", i, " is outside [0, ", classes, ")");
        Tensor<float> p = ember::softmax(logits);
        if (tta == TestTimeAugment::none) {  // the exact cross-entropy of the logits (log-softmax fused)
            loss_sum += static_cast<double>(ember::sparse_categorical_crossentropy(logits, labels).item()) *
                        static_cast<double>(labels.size());
        } else {  // of the mean probabilities, as Keras computes a cross-entropy from probabilities
            average_flips(model, b.inputs, p);
            for (std::size_t i = 0; i < labels.size(); ++i)
                loss_sum += clipped_log_loss(p.data() + static_cast<index_t>(i) * classes, labels[i]);
        }
        ev.confusion.add(labels, ember::train::argmax_rows(p));
        ev.labels.insert(ev.labels.end(), labels.begin(), labels.end());
        probs.insert(probs.end(), p.data(), p.data() + p.numel());
    }
    ev.loss = ev.labels.empty() ? 0.0 : loss_sum / static_cast<double>(ev.labels.size());
    ev.probabilities = Tensor<float>::from_data({static_cast<index_t>(ev.labels.size()), classes}, probs);
    return ev;
}

Evaluation from_outputs(const ember::train::Evaluation<float>& fit_ev, int classes) {
    Evaluation ev;
    ev.loss = fit_ev.get("loss");
    ev.probabilities = ember::softmax(fit_ev.outputs);
    ev.labels = ember::nn::class_indices(fit_ev.targets);
    ev.confusion = ember::train::ConfusionMatrix(classes);
    ev.confusion.add(ev.labels, ember::train::argmax_rows(ev.probabilities));
    return ev;
}

Evaluation ensemble(const std::vector<Evaluation>& members) {
    EMBER_CHECK(!members.empty(), ember::ValueError, "ensemble: no members");
    const Evaluation& first = members.front();
    const index_t n = first.probabilities.size(0), classes = first.probabilities.size(1);
    for (const auto& m : members)
        EMBER_CHECK(m.labels == first.labels && m.probabilities.shape() == first.probabilities.shape(),
                    ember::ValueError, "ensemble: the members were evaluated on different images (",
                    m.probabilities.shape(), " vs ", first.probabilities.shape(), ")");
    Evaluation ev;
    ev.labels = first.labels;
    ev.probabilities = Tensor<float>::zeros(first.probabilities.shape());
    for (const auto& m : members)
        for (index_t i = 0; i < ev.probabilities.numel(); ++i)
            ev.probabilities.data()[i] += m.probabilities.data()[i] / static_cast<float>(members.size());
    ev.confusion = ember::train::ConfusionMatrix(static_cast<int>(classes));
    ev.confusion.add(ev.labels, ember::train::argmax_rows(ev.probabilities));
    double loss = 0;
    for (index_t i = 0; i < n; ++i)
        loss += clipped_log_loss(ev.probabilities.data() + i * classes, ev.labels[static_cast<std::size_t>(i)]);
    ev.loss = n ? loss / static_cast<double>(n) : 0.0;
    return ev;
}

}  // namespace melanoma
