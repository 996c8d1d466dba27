// ember/autograd/engine.hpp - graph nodes, recording, and the reverse-mode backward traversal.
// Note [Backward contract]: a node's backward *adds* (+=) into the gradient buffers of its inputs; the engine hands
// it a zero-filled buffer, or a leaf's existing grad, for each input that requires grad, and an undefined Tensor
// for the others. Accumulation therefore needs no extra pass, and a tensor used twice gets both contributions.
#pragma once

#include <algorithm>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "ember/autograd/grad_mode.hpp"
#include "ember/autograd/op_table.hpp"
#include "ember/core/tensor.hpp"
#include "ember/core/parallel.hpp"

namespace ember::autograd {

template <Real T>
class Node;

/// Where the gradient of one input of a recorded op goes: the node that produced it, or the leaf whose grad
/// accumulates it; inactive for an input that needs no gradient. An edge holds no data: an op's input buffer
/// lives only as long as something else (a consumer's saved tensors, the caller) holds it, so a max-pool does
/// not keep its 133 MB input alive until backward (PyTorch's saved-tensor rule).
template <Real T>
struct Edge {
    std::shared_ptr<Node<T>> fn;
    std::shared_ptr<detail::TensorImpl<T>> leaf;
    Shape shape;
    [[nodiscard]] bool active() const { return fn || leaf; }
};

/// One recorded op: which op of the table (op_table.hpp), the edges to its inputs and how to push a gradient back
/// through it.
template <Real T>
class Node {
public:
    Node(Op op, const std::vector<Tensor<T>>& inputs) : op_(op) {
        inputs_.reserve(inputs.size());
        for (const auto& in : inputs) {
            Edge<T> e;
            if (in.defined() && in.requires_grad()) {
                e.shape = in.shape();
                if (in.impl().grad_fn) e.fn = in.impl().grad_fn;
                else e.leaf = in.impl_ptr();
            }
            inputs_.push_back(std::move(e));
        }
    }
    virtual ~Node() = default;

    [[nodiscard]] Op op() const { return op_; }
    /// The op's name in the table ("conv2d").
    [[nodiscard]] std::string_view name() const { return op_name(op_); }
    [[nodiscard]] const std::vector<Edge<T>>& inputs() const { return inputs_; }
    [[nodiscard]] bool released() const { return released_; }

    /// Adds d(loss)/d(input i) into `input_grads[i]` (defined only where input i requires grad), given the
    /// gradient `grad_out` of this node's output.
    virtual void backward(const Tensor<T>& grad_out, std::vector<Tensor<T>>& input_grads) = 0;

    /// Frees what backward needed (saved tensors and the edges); a later backward through it is a StateError.
    virtual void release() {
        inputs_.clear();
        inputs_.shrink_to_fit();
        released_ = true;
    }

private:
    Op op_;
    std::vector<Edge<T>> inputs_;
    bool released_ = false;
};

/// A node whose backward is a callable `f(grad_out, input_grads)` holding what it saved by capture.
template <Real T, class F>
class FunctionNode final : public Node<T> {
public:
    FunctionNode(Op op, const std::vector<Tensor<T>>& inputs, F f) : Node<T>(op, inputs), f_(std::move(f)) {}
    void backward(const Tensor<T>& grad_out, std::vector<Tensor<T>>& input_grads) override {
        (*f_)(grad_out, input_grads);
    }
    void release() override {
        f_.reset();
        Node<T>::release();
    }

private:
    std::optional<F> f_;
};

/// True when an op on `inputs` must be recorded: grad mode is on and some input requires grad.
template <Real T>
bool needs_grad(std::initializer_list<const Tensor<T>*> inputs) {
    if (!grad_enabled()) return false;
    for (const Tensor<T>* t : inputs)
        if (t && t->defined() && t->requires_grad()) return true;
    return false;
}

/// Records `out` as produced by `op` from `inputs`, with `backward_fn(grad_out, input_grads)` as its
/// backward (see Note [Backward contract]). Does nothing unless needs_grad(inputs). Returns `out`.
template <Real T, class F>
Tensor<T> record(Tensor<T> out, Op op, std::vector<Tensor<T>> inputs, F backward_fn) {
    bool any = false;
    if (grad_enabled())
        for (const auto& t : inputs) any = any || (t.defined() && t.requires_grad());
    if (!any) return out;
    auto& impl = out.impl();
    impl.grad_fn = std::make_shared<FunctionNode<T, F>>(op, inputs, std::move(backward_fn));
    impl.requires_grad = true;
    return out;
}

namespace detail {
/// Nodes reachable from `root`, each after every node that consumes its output (reverse topological order).
/// Owning pointers: releasing a node drops its inputs, which may hold the only reference to a node still to come.
template <Real T>
std::vector<std::shared_ptr<Node<T>>> topological_order(const std::shared_ptr<Node<T>>& root) {
    std::vector<std::shared_ptr<Node<T>>> post;
    std::unordered_map<Node<T>*, bool> visited;
    std::vector<std::pair<std::shared_ptr<Node<T>>, std::size_t>> stack{{root, 0}};
    visited[root.get()] = true;
    while (!stack.empty()) {
        auto& [node, next] = stack.back();
        const auto& ins = node->inputs();
        if (next < ins.size()) {
            const auto& child = ins[next++].fn;
            if (child && !visited[child.get()]) {
                visited[child.get()] = true;
                stack.emplace_back(child, 0);
            }
        } else {
            post.push_back(std::move(node));
            stack.pop_back();
        }
    }
    std::reverse(post.begin(), post.end());
    return post;
}

/// A zero-filled gradient buffer. Filled on all threads: the input gradient of a conv layer of the reference
/// model is 133 MB at batch 32, and zeroing such buffers on one thread was the serial 2% of a training step.
template <Real T>
Tensor<T> zero_gradient(const Shape& shape) {
    auto t = Tensor<T>::empty(shape);
    T* p = t.data();
    ember::parallel_for(0, t.numel(), index_t{1} << 18,
                          [p](index_t lo, index_t hi) { std::fill(p + lo, p + hi, T(0)); });
    return t;
}

/// Adds `g` into the leaf `t`'s grad (allocating it on first use).
template <Real T>
void accumulate_leaf(const Tensor<T>& t, const Tensor<T>& g) {
    auto& impl = t.impl();
    if (!impl.grad) {
        impl.grad = g.clone().impl_ptr();
        return;
    }
    T* dst = impl.grad->storage->data() + impl.grad->offset;
    const T* src = g.data();
    for (index_t i = 0, n = g.numel(); i < n; ++i) dst[i] += src[i];
}

template <Real T>
void run_backward(const Tensor<T>& root, const Tensor<T>& upstream, bool retain_graph) {
    EMBER_CHECK(root.requires_grad(), StateError,
                "backward(): this tensor does not require grad (no input of its graph has requires_grad(true), or "
                "it was computed under NoGradGuard)");
    EMBER_CHECK(upstream.shape() == root.shape(), ShapeError, "backward(): upstream gradient has shape ",
                upstream.shape(), ", expected the tensor's shape ", root.shape());
    const std::shared_ptr<Node<T>> root_node = root.impl().grad_fn;
    if (!root_node) {  // a leaf: its gradient is the upstream gradient
        accumulate_leaf(root, upstream);
        return;
    }
    NoGradGuard no_grad;  // backward computations record nothing
    const auto order = topological_order(root_node);
    std::unordered_map<Node<T>*, Tensor<T>> grads;
    grads[root_node.get()] = upstream.clone();
    std::vector<Tensor<T>> input_grads;
    for (const auto& node : order) {
        EMBER_CHECK(!node->released(), StateError, "backward(): the graph through '", node->name(),
                    "' was already released by an earlier backward(); pass retain_graph=true to the first call to "
                    "back-propagate twice");
        auto it = grads.find(node.get());
        if (it == grads.end()) continue;  // no gradient flows into this node
        Tensor<T> grad_out = std::move(it->second);
        grads.erase(it);
        const auto& ins = node->inputs();
        input_grads.assign(ins.size(), Tensor<T>());
        for (std::size_t i = 0; i < ins.size(); ++i) {
            const Edge<T>& e = ins[i];
            if (e.fn) {
                auto& slot = grads[e.fn.get()];
                if (!slot.defined()) slot = zero_gradient<T>(e.shape);
                input_grads[i] = slot;
            } else if (e.leaf) {
                if (!e.leaf->grad) e.leaf->grad = zero_gradient<T>(e.shape).impl_ptr();
                input_grads[i] = Tensor<T>::from_impl(e.leaf->grad);
            }
        }
        node->backward(grad_out, input_grads);
        if (!retain_graph) node->release();
    }
}
}  // namespace detail

}  // namespace ember::autograd

namespace ember {

template <Real T>
void Tensor<T>::backward(bool retain_graph) const {
    EMBER_CHECK(numel() == 1, StateError, "backward(): called on a tensor of shape ", shape(),
                " without an upstream gradient; only a one-element tensor (a loss) can start backward "
                "implicitly - pass backward(upstream) for others");
    autograd::detail::run_backward(*this, Tensor<T>::ones(shape()), retain_graph);
}

template <Real T>
void Tensor<T>::backward(const Tensor<T>& upstream, bool retain_graph) const {
    autograd::detail::run_backward(*this, upstream, retain_graph);
}

template <Real T>
std::string Tensor<T>::grad_fn_name() const {
    const auto& fn = impl().grad_fn;
    return fn ? std::string(fn->name()) : std::string();
}

}  // namespace ember
