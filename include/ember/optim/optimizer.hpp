// ember/optim/optimizer.hpp - Optimizer<T>: the parameters an optimiser updates, zero_grad(), the rate, and what
// every Keras optimizer does around its update rule: gradient clipping, decoupled weight decay and a moving
// average (EMA) of the weights.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "ember/core/tensor.hpp"

namespace ember::optim {

/// The keyword arguments every Keras optimizer takes (keras/src/optimizers/base_optimizer.py). 0 means Keras'
/// None: off.
struct CommonOptions {
    /// Decoupled weight decay (AdamW's): before each update, theta <- theta - theta * weight_decay * lr, for every
    /// parameter with a gradient, biases included (as Keras: Optimizer::exclude_from_weight_decay() takes some out).
    double weight_decay = 0;
    /// Each parameter's gradient scaled to an L2 norm of at most this.
    double clipnorm = 0;
    /// Each gradient element clipped to [-clipvalue, clipvalue].
    double clipvalue = 0;
    /// All gradients scaled together to a global L2 norm of at most this. At most one of the three clips is set.
    double global_clipnorm = 0;
    /// Keep an exponential moving average of the weights: after each step, average <- m * average + (1 - m) *
    /// theta with m = ema_momentum (the first step copies theta). finalize_variable_values() writes it into the
    /// parameters (train::fit does that at its end, as Keras' fit does).
    bool use_ema = false;
    double ema_momentum = 0.99;
    /// With use_ema, overwrite the parameters with their average every this many steps (0: never).
    int ema_overwrite_frequency = 0;
};

template <Real T>
class Optimizer {
public:
    /// `who` names the optimizer in error messages ("Adam: option 'lr' must be ...").
    explicit Optimizer(std::vector<Tensor<T>> params, CommonOptions c = {}, std::string who = "optimizer")
        : params_(std::move(params)), c_(c), who_(std::move(who)) {
        const char* name = who_.c_str();
        for (std::size_t i = 0; i < params_.size(); ++i)
            EMBER_CHECK(params_[i].defined() && params_[i].requires_grad(), ValueError,
                        "optimizer: parameter ", i, " is undefined or does not require grad (build the model first; "
                        "for a model with frozen layers, pass model.trainable_parameters())");
        check_option(c.weight_decay >= 0, "weight_decay", ">= 0", c.weight_decay, name);
        check_option(c.clipnorm >= 0, "clipnorm", ">= 0", c.clipnorm, name);
        check_option(c.clipvalue >= 0, "clipvalue", ">= 0", c.clipvalue, name);
        check_option(c.global_clipnorm >= 0, "global_clipnorm", ">= 0", c.global_clipnorm, name);
        EMBER_CHECK((c.clipnorm > 0) + (c.clipvalue > 0) + (c.global_clipnorm > 0) <= 1, ValueError, name,
                    ": only one of clipnorm, clipvalue and global_clipnorm can be set, got clipnorm=", c.clipnorm,
                    ", clipvalue=", c.clipvalue, ", global_clipnorm=", c.global_clipnorm);
        check_option(c.ema_momentum >= 0 && c.ema_momentum <= 1, "ema_momentum", "in [0, 1]", c.ema_momentum, name);
        check_option(c.ema_overwrite_frequency >= 0, "ema_overwrite_frequency", ">= 0 (0: never)",
                     c.ema_overwrite_frequency, name);
        if (c.use_ema)
            for (auto& p : params_) averages_.push_back(Tensor<T>::zeros(p.shape()));
        no_decay_.assign(params_.size(), false);
    }
    virtual ~Optimizer() = default;

    /// Forgets every parameter's gradient (the next backward starts from zero).
    void zero_grad() {
        for (auto& p : params_) p.zero_grad();
    }

    /// One step, as Keras' apply(): the gradients clipped (into copies; the parameters' grad() is left as it is),
    /// decoupled weight decay, the optimizer's update rule, the moving average. Parameters without a gradient
    /// are skipped; ValueError when none has one (Keras: "No gradients provided for any variable"), StateError
    /// while the averages are swapped in (the step would train the average).
    void step() {
        EMBER_CHECK(!swapped_, StateError, who_,
                    ": step() while the moving averages are swapped into the parameters (call swap_averages() again "
                    "first)");
        std::vector<std::size_t> which;
        std::vector<Tensor<T>> grads;
        for (std::size_t i = 0; i < params_.size(); ++i) {
            Tensor<T> g = params_[i].grad();
            if (!g.defined()) continue;
            which.push_back(i);
            grads.push_back(std::move(g));
        }
        EMBER_CHECK(!which.empty(), ValueError, who_,
                    ": step() found no gradient on any parameter (call backward() first)");
        double total = 0;
        for (const auto& g : grads) total += squared_norm(g);
        gradient_norm_ = std::sqrt(total);
        clip(grads);
        if (c_.weight_decay > 0) {
            const T decay = static_cast<T>(c_.weight_decay * learning_rate());
            for (std::size_t i : which)
                if (!no_decay_[i])
                    for (T& w : params_[i].span()) w -= w * decay;
        }
        const std::int64_t t = iterations_ + 1;
        for (std::size_t k = 0; k < which.size(); ++k) update(which[k], grads[k].span(), t);
        if (c_.use_ema) {
            // Keras: momentum 0 on the first step, so the average starts at the weights after it.
            const T m = iterations_ == 0 ? T(0) : static_cast<T>(c_.ema_momentum);
            for (std::size_t i = 0; i < params_.size(); ++i) {
                const T* w = params_[i].data();
                T* a = averages_[i].data();
                for (index_t j = 0, n = params_[i].numel(); j < n; ++j) a[j] = m * a[j] + (T(1) - m) * w[j];
            }
        }
        iterations_ = t;
        if (c_.use_ema && c_.ema_overwrite_frequency > 0 && iterations_ % c_.ema_overwrite_frequency == 0)
            finalize_variable_values();
    }

    /// Keras' exclude_from_weight_decay(var_list=...): these parameters keep their update rule but are not
    /// decayed (commonly the biases). Each must be one of this optimizer's parameters (ValueError naming its
    /// position in `vars` otherwise; a refused call excludes nothing). Only before the first step (StateError),
    /// as Keras allows it only before the optimizer is built. Unlike Keras, where each call replaces the previous
    /// exclusions, calls add up.
    void exclude_from_weight_decay(const std::vector<Tensor<T>>& vars) {
        EMBER_CHECK(iterations_ == 0, StateError, who_,
                    ": exclude_from_weight_decay() after a step (exclude parameters before training starts)");
        std::vector<std::size_t> which;  // all found before any is marked
        for (std::size_t k = 0; k < vars.size(); ++k) {
            const auto i = find(vars[k]);
            EMBER_CHECK(i < params_.size(), ValueError, who_, ": exclude_from_weight_decay(): vars[", k,
                        "] is not one of the optimizer's parameters");
            which.push_back(i);
        }
        for (std::size_t i : which) no_decay_[i] = true;
    }
    /// Keras' exclude_from_weight_decay(var_names=...): every parameter of this optimizer that appears in `named`
    /// (a model's named_parameters(): items with .name and .value) under a name containing one of `names`, e.g.
    /// {"bias"} (Keras searches the names as a regular expression; a plain name matches the same). Named
    /// parameters the optimizer does not update are ignored, as in Keras; a name that matches none of the
    /// optimizer's parameters is a ValueError (Keras ignores it, and a typo would silently decay everything).
    template <class Named>
    void exclude_from_weight_decay(const std::vector<Named>& named, const std::vector<std::string>& names) {
        EMBER_CHECK(iterations_ == 0, StateError, who_,
                    ": exclude_from_weight_decay() after a step (exclude parameters before training starts)");
        std::vector<Tensor<T>> vars;
        for (const auto& name : names) {
            EMBER_CHECK(!name.empty(), ValueError, who_, ": exclude_from_weight_decay(): an empty name matches everything");
            bool found = false;
            for (const auto& p : named) {
                if (p.name.find(name) == std::string::npos || find(p.value) == params_.size()) continue;
                vars.push_back(p.value);
                found = true;
            }
            EMBER_CHECK(found, ValueError, who_, ": exclude_from_weight_decay(): none of the optimizer's parameters has a name containing '",
                        name, "' (", named.size(), " named parameter(s) given", named.empty() ? std::string() : ", the first '" + named.front().name + "'", ")");
        }
        exclude_from_weight_decay(vars);
    }
    /// Whether parameter i is decayed (with weight_decay > 0). IndexError for i outside the parameters.
    [[nodiscard]] bool decays(std::size_t i) const {
        EMBER_CHECK(i < params_.size(), IndexError, who_, ": decays(", i, ") of ", params_.size(), " parameters");
        return c_.weight_decay > 0 && !no_decay_[i];
    }

    [[nodiscard]] virtual double learning_rate() const = 0;
    /// Changes the rate for later steps (learning-rate schedules). Throws ValueError for a negative or NaN rate.
    virtual void set_learning_rate(double lr) = 0;
    [[nodiscard]] const std::vector<Tensor<T>>& parameters() const { return params_; }
    [[nodiscard]] const CommonOptions& common_options() const { return c_; }
    /// The optimizer's name, as messages give it ("Adam").
    [[nodiscard]] const std::string& name() const { return who_; }
    /// Steps taken so far.
    [[nodiscard]] std::int64_t iterations() const { return iterations_; }
    /// The global L2 norm of the gradients the last step() was given, before clipping (what global_clipnorm
    /// compares with; NaN before the first step, inf or NaN when a gradient was). train::fit records its mean
    /// and maximum per epoch, which is where a clipping threshold can be read from.
    [[nodiscard]] double last_gradient_norm() const { return gradient_norm_; }

    /// Sets the step count, as a resumed run needs it (Adam's bias correction and the moving average's first step
    /// depend on it; train::load_training_state). ValueError for a negative count.
    void set_iterations(std::int64_t n) {
        EMBER_CHECK(n >= 0, ValueError, who_, ": set_iterations(", n, "): the step count must be >= 0");
        iterations_ = n;
    }
    /// The optimizer's state besides the parameters and the step count, as named tensors that share storage with
    /// it (copying values into them restores it): the update rule's slots ("m/3" and "v/3", Adam's moments of
    /// parameter 3; "velocity/3", SGD's) and, with use_ema, the moving averages ("ema/3"). With iterations() and
    /// the rate, it is what a resumed run needs (train::save_training_state). StateError while the averages are
    /// swapped in, where they hold the weights.
    [[nodiscard]] std::vector<std::pair<std::string, Tensor<T>>> named_state() const {
        EMBER_CHECK(!swapped_, StateError, who_,
                    ": named_state() while the moving averages are swapped into the parameters (swap them back first)");
        auto out = slots();
        if (c_.use_ema)
            for (std::size_t i = 0; i < averages_.size(); ++i) out.emplace_back("ema/" + std::to_string(i), averages_[i]);
        return out;
    }

    [[nodiscard]] bool uses_ema() const { return c_.use_ema; }
    /// The moving averages of the parameters (empty without use_ema; zeros before the first step).
    [[nodiscard]] const std::vector<Tensor<T>>& averages() const { return averages_; }
    /// With use_ema and at least one step taken, writes the moving averages into the parameters (Keras'
    /// finalize_variable_values; swapped in or not, both then hold the averages); otherwise does nothing.
    void finalize_variable_values() {
        if (!c_.use_ema || iterations_ == 0) return;
        if (swapped_) swap_averages();
        for (std::size_t i = 0; i < params_.size(); ++i) params_[i].copy_from(averages_[i]);
    }
    /// Exchanges the values of the parameters and their moving averages (with use_ema and a step taken;
    /// otherwise nothing): to evaluate the averaged model between steps, swap, evaluate, swap back. step()
    /// refuses to run while they are swapped in.
    void swap_averages() noexcept {
        if (!c_.use_ema || iterations_ == 0) return;
        for (std::size_t i = 0; i < params_.size(); ++i)
            std::swap_ranges(params_[i].span().begin(), params_[i].span().end(), averages_[i].span().begin());
        swapped_ = !swapped_;
    }
    /// True between two swap_averages(): the parameters hold the averages.
    [[nodiscard]] bool averages_swapped_in() const { return swapped_; }

protected:
    /// The update rule: applies `grad` (clipped) to parameter i at step t (1, 2, ...).
    virtual void update(std::size_t i, std::span<const T> grad, std::int64_t t) = 0;
    /// The update rule's state tensors for named_state(), each named "<slot>/<parameter index>".
    [[nodiscard]] virtual std::vector<std::pair<std::string, Tensor<T>>> slots() const { return {}; }
    /// `tensors` under the names "<slot>/0", "<slot>/1", ... (for slots()).
    static void add_slot(std::vector<std::pair<std::string, Tensor<T>>>& out, const char* slot,
                         const std::vector<Tensor<T>>& tensors) {
        for (std::size_t i = 0; i < tensors.size(); ++i) out.emplace_back(std::string(slot) + "/" + std::to_string(i), tensors[i]);
    }

    static void check_option(bool ok, const char* opt, const char* rule, double value, const char* who) {
        EMBER_CHECK(ok, ValueError, who, ": option '", opt, "' must be ", rule, ", got ", value);
    }
    /// The optimizer's name in messages ("Adam").
    [[nodiscard]] const char* who() const { return who_.c_str(); }
    std::vector<Tensor<T>> params_;

private:
    /// Keras' _clip_gradients: by each gradient's norm, by value, or by the global norm (a non-finite global
    /// norm makes every gradient NaN, as in Keras, so that the loss check stops training instead of a silent skip).
    void clip(std::vector<Tensor<T>>& grads) const {
        if (c_.clipnorm <= 0 && c_.clipvalue <= 0 && c_.global_clipnorm <= 0) return;
        const auto scaled = [](const Tensor<T>& g, double scale) {
            Tensor<T> out = g.clone();
            for (T& v : out.span()) v = static_cast<T>(static_cast<double>(v) * scale);
            return out;
        };
        if (c_.clipnorm > 0) {
            for (auto& g : grads) {
                const double norm = std::sqrt(squared_norm(g));
                if (norm > c_.clipnorm) g = scaled(g, c_.clipnorm / norm);
            }
        } else if (c_.clipvalue > 0) {
            const T v = static_cast<T>(c_.clipvalue);
            for (auto& g : grads) {
                Tensor<T> out = g.clone();
                for (T& x : out.span()) x = std::clamp(x, -v, v);
                g = std::move(out);
            }
        } else {
            const double norm = gradient_norm_;
            if (!std::isfinite(norm)) {
                for (auto& g : grads) g = scaled(g, std::nan(""));
            } else if (norm > c_.global_clipnorm) {
                for (auto& g : grads) g = scaled(g, c_.global_clipnorm / norm);
            }
        }
    }

    static double squared_norm(const Tensor<T>& g) {
        double s = 0;
        for (T v : g.span()) s += static_cast<double>(v) * static_cast<double>(v);
        return s;
    }

    /// The position of `v` among the parameters, or params_.size() when it is not one of them.
    std::size_t find(const Tensor<T>& v) const {
        for (std::size_t i = 0; i < params_.size(); ++i)
            if (v.shares_storage_with(params_[i])) return i;
        return params_.size();
    }

    CommonOptions c_;
    std::string who_;
    std::int64_t iterations_ = 0;
    double gradient_norm_ = std::numeric_limits<double>::quiet_NaN();
    bool swapped_ = false;
    std::vector<Tensor<T>> averages_;
    std::vector<bool> no_decay_;  // per parameter: excluded from weight decay
};

}  // namespace ember::optim
