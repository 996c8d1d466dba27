// ember/nn/grad_cam.hpp - Grad-CAM (Selvaraju et al. 2017, "Grad-CAM: Visual Explanations from Deep Networks via
// Gradient-based Localization"): which places of a spatial layer's output raise one class's score.
//
// For an image, a layer with output activations A [h, w, k] and a class c with score y_c (the model's logit):
//   alpha_k = mean over (i, j) of d y_c / d A[i, j, k]     (how much channel k matters for c)
//   heat    = ReLU(sum_k alpha_k * A[:, :, k])             (where the channels that matter are active)
// ember has no hooks on intermediate tensors, so grad_cam() runs the Sequential in two parts: layers [0, layer]
// without a graph, then the activation as a fresh leaf that requires grad through layers (layer, end), and reads
// d y_c / d A from that leaf's grad() after one backward pass.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

#include "ember/autograd/grad_mode.hpp"
#include "ember/nn/layers.hpp"
#include "ember/nn/sequential.hpp"

namespace ember::nn {

/// What grad_cam() returns for one image and one class.
template <Real T>
struct GradCamMap {
    /// [h, w]: ReLU(sum_k weights[k] * A[:, :, k]) at the chosen layer's resolution; not normalised (its scale is
    /// the score's), all zero when no place raises the score. upsample_heat_map() scales it to the image.
    Tensor<T> heat;
    /// [k]: alpha_k, the mean over (i, j) of d score / d A[i, j, k].
    Tensor<T> weights;
    /// [classes]: softmax of the model's logits for this image.
    Tensor<T> probabilities;
    /// The logit of the target class: the score that was differentiated.
    T score = 0;
};

namespace grad_cam_detail {

/// Where the logits are: the model's output, or, when the model ends with a Softmax layer, that layer's input.
/// Grad-CAM differentiates the pre-softmax score, as the paper does: a softmax output's gradient also carries
/// the other classes' scores (d p_c = p_c (d y_c - sum_j p_j d y_j)) and vanishes once p_c saturates near 1.
template <Real T>
std::size_t logits_end(const Sequential<T>& model) {
    const std::size_t n = model.size();
    return n > 1 && dynamic_cast<const Softmax<T>*>(&model[n - 1]) != nullptr ? n - 1 : n;
}

/// Throws unless grad_cam(model, image, layer, target_class) can run; returns the image as a batch of one.
template <Real T>
Tensor<T> grad_cam_input(const Sequential<T>& model, const Tensor<T>& image, std::size_t layer, int target_class) {
    EMBER_CHECK(model.built(), StateError, "grad_cam: the model is not built; build it for its input shape or run "
                                           "a batch through it first");
    const Shape& in = model.input_shape();
    const bool single = image.defined() && image.shape() == in;
    const bool batch_of_one = image.defined() && image.rank() == in.rank() + 1 && image.size(0) == 1 &&
                              image.shape().drop_front() == in;
    EMBER_CHECK(single || batch_of_one, ShapeError, "grad_cam: expected an image ", in, " or a batch of one ",
                in.prepend(1), " (the model's input), got ",
                image.defined() ? image.shape().str() : "an undefined tensor");
    const std::size_t end = logits_end(model);
    const Shape& out = model[end - 1].output_shape();
    EMBER_CHECK(out.rank() == 1, ShapeError, "grad_cam: expected a model with outputs [N, classes], ",
                model[end - 1].where(), " gives [N, ", out.str().substr(1));
    // The logits layer and a final Softmax have outputs [N, classes], so the rank check below refuses them.
    EMBER_CHECK(layer < model.size(), IndexError, "grad_cam: layer ", layer, " is out of range for a model of ",
                model.size(), " layers (0 to ", model.size() - 1, ")");
    const Shape& a = model[layer].output_shape();
    EMBER_CHECK(a.rank() == 3, ShapeError, "grad_cam: layer ", layer, " (", model[layer].where(), ") has output [N, ",
                a.str().substr(1), "; Grad-CAM needs a spatial output [N, h, w, channels]");
    EMBER_CHECK(target_class >= 0 && target_class < out[0], IndexError, "grad_cam: class ", target_class,
                " is out of range for a model with ", out[0], " classes (0 to ", out[0] - 1, ")");
    return single ? image.view_detached(in.prepend(1)) : image.view_detached(image.shape());
}

/// RAII for the span of one grad_cam() call: inference mode (no dropout), grad mode on (the caller may be under a
/// NoGradGuard), and the parameters not requiring grad, so that backward computes only the activation's gradient
/// and leaves every parameter's grad() as the caller had it (an optimiser step after grad_cam() must not see a
/// Grad-CAM gradient). The destructor restores all three, also when grad_cam() throws.
template <Real T>
class GradCamScope {
public:
    explicit GradCamScope(Sequential<T>& model)
        : model_(model), grad_mode_(grad_enabled()), model_training_(model.is_training()) {
        for (std::size_t i = 0; i < model.size(); ++i) layer_training_.push_back(model[i].is_training());
        for (auto& p : model.parameters())
            if (p.requires_grad()) frozen_.push_back(p);
        for (auto& p : frozen_) p.requires_grad(false);
        model.eval();
        set_grad_enabled(true);
    }
    GradCamScope(const GradCamScope&) = delete;
    GradCamScope& operator=(const GradCamScope&) = delete;
    ~GradCamScope() {
        set_grad_enabled(grad_mode_);
        for (auto& p : frozen_) p.requires_grad(true);
        model_.train(model_training_);
        for (std::size_t i = 0; i < model_.size(); ++i) model_[i].train(layer_training_[i]);
    }

private:
    Sequential<T>& model_;
    bool grad_mode_, model_training_;
    std::vector<bool> layer_training_;
    std::vector<Tensor<T>> frozen_;
};

/// heat = ReLU(sum_k alpha_k A[:, :, k]) and alpha (into `out`), from A and d score / d A, both [1, h, w, k].
template <Real T>
void grad_cam_combine(const Tensor<T>& a, const Tensor<T>& grad, GradCamMap<T>& out) {
    const index_t h = a.size(1), w = a.size(2), k = a.size(3), pixels = h * w;
    out.weights = Tensor<T>::zeros({k});
    T* alpha = out.weights.data();
    const T* g = grad.data();
    for (index_t p = 0; p < pixels; ++p)
        for (index_t c = 0; c < k; ++c) alpha[c] += g[p * k + c];
    for (index_t c = 0; c < k; ++c) alpha[c] /= static_cast<T>(pixels);
    out.heat = Tensor<T>::empty({h, w});
    const T* av = a.data();
    for (index_t p = 0; p < pixels; ++p) {
        T s = 0;
        for (index_t c = 0; c < k; ++c) s += alpha[c] * av[p * k + c];
        out.heat.data()[p] = std::max(s, T(0));
    }
}

}  // namespace grad_cam_detail

/// The index of the last layer whose output is spatial ([N, h, w, channels]): the usual Grad-CAM layer, the one
/// with the most semantic features that still knows where they are. Throws StateError for an unbuilt model and
/// ShapeError when no layer has such an output.
template <Real T>
std::size_t last_spatial_layer(const Sequential<T>& model) {
    EMBER_CHECK(model.built(), StateError, "last_spatial_layer: the model is not built; build it for its input "
                                           "shape or run a batch through it first");
    for (std::size_t i = model.size(); i-- > 0;)
        if (model[i].output_shape().rank() == 3) return i;
    EMBER_CHECK(false, ShapeError, "last_spatial_layer: no layer of ", model.where(),
                " has a spatial output [N, h, w, channels]");
    return 0;
}

/// Grad-CAM of class `target_class` for one image ([H, W, C] or [1, H, W, C], the model's input shape) at the
/// output of layer `layer` (an index into `model`; its output must be [N, h, w, channels], a convolution's or a
/// pooling layer's). The score is the class's logit: the model's output, or the input of a final Softmax layer.
/// The model runs in inference mode for the call (dropout off) and is then put back in the mode it was in; the
/// parameters' gradients are left untouched. Throws StateError for an unbuilt model, ShapeError for an image of
/// another shape, a model whose output is not [N, classes] or a layer whose output is not spatial, and
/// IndexError for a layer or class out of range.
template <Real T>
GradCamMap<T> grad_cam(Sequential<T>& model, const Tensor<T>& image, std::size_t layer, int target_class) {
    const Tensor<T> x = grad_cam_detail::grad_cam_input(model, image, layer, target_class);
    const std::size_t end = grad_cam_detail::logits_end(model);
    grad_cam_detail::GradCamScope<T> scope(model);
    Tensor<T> a;
    {
        NoGradGuard no_grad;  // d score / d A needs no graph below A
        a = x;
        for (std::size_t i = 0; i <= layer; ++i) a = model[i].forward(a);
    }
    // A leaf of its own: a layer may return its input (Dropout in inference mode), and requires_grad must not
    // mark the caller's image or a tensor a layer keeps.
    a = a.clone();
    a.requires_grad(true);
    Tensor<T> logits = a;
    for (std::size_t i = layer + 1; i < end; ++i) logits = model[i].forward(logits);
    EMBER_CHECK(logits.requires_grad(), StateError, "grad_cam: the layers after layer ", layer,
                " recorded no gradient (a layer that is not differentiable?)");
    auto select = Tensor<T>::zeros(logits.shape());  // backward of the target logit alone
    select.data()[target_class] = T(1);
    logits.backward(select);
    GradCamMap<T> out;
    grad_cam_detail::grad_cam_combine(a, a.grad(), out);
    out.score = logits.data()[target_class];
    NoGradGuard no_grad;
    const Tensor<T> p = softmax(logits.detach());
    out.probabilities = p.view_detached({p.numel()});
    return out;
}

/// `heat` ([h, w], from grad_cam()) resized to [height, width] by bilinear interpolation with half-pixel centres
/// (TensorFlow's resize and PyTorch's align_corners=False), then divided by its maximum so that it lies in [0, 1]
/// (all zero when the heat is). Throws ShapeError unless `heat` is [h, w] with h, w > 0, and ValueError unless
/// height, width > 0.
template <Real T>
Tensor<T> upsample_heat_map(const Tensor<T>& heat, index_t height, index_t width) {
    EMBER_CHECK(heat.defined() && heat.rank() == 2 && heat.numel() > 0, ShapeError,
                "upsample_heat_map: expected a heat map [h, w], got ",
                heat.defined() ? heat.shape().str() : "an undefined tensor");
    EMBER_CHECK(height > 0 && width > 0, ValueError, "upsample_heat_map: size must be > 0, got ", height, " x ", width);
    const index_t h = heat.size(0), w = heat.size(1);
    // Source coordinate of output index o along an axis of n inputs and m outputs, with its two neighbours.
    auto source = [](index_t o, index_t n, index_t m, index_t& lo, index_t& hi, T& frac) {
        const T s = std::clamp((static_cast<T>(o) + T(0.5)) * static_cast<T>(n) / static_cast<T>(m) - T(0.5), T(0),
                               static_cast<T>(n - 1));
        lo = static_cast<index_t>(s);
        hi = std::min(lo + 1, n - 1);
        frac = s - static_cast<T>(lo);
    };
    auto out = Tensor<T>::empty({height, width});
    const T* src = heat.data();
    T top = 0;
    for (index_t y = 0; y < height; ++y) {
        index_t y0, y1;
        T fy;
        source(y, h, height, y0, y1, fy);
        for (index_t x = 0; x < width; ++x) {
            index_t x0, x1;
            T fx;
            source(x, w, width, x0, x1, fx);
            const T upper = src[y0 * w + x0] + fx * (src[y0 * w + x1] - src[y0 * w + x0]);
            const T lower = src[y1 * w + x0] + fx * (src[y1 * w + x1] - src[y1 * w + x0]);
            const T v = upper + fy * (lower - upper);
            out.data()[y * width + x] = v;
            top = std::max(top, v);
        }
    }
    if (top > 0)
        for (T& v : out.span()) v = std::max(v, T(0)) / top;
    else
        out.fill(T(0));
    return out;
}

}  // namespace ember::nn
