// tests/interop/torch_fixture.hpp - reading a PyTorch fixture (tests/fixtures/torch_*.safetensors, written by
// tools/make_torch_fixtures*.py) and comparing against it: what every tests/interop/test_pytorch*.cpp needs.
#pragma once

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <ember/io/safetensors.hpp>

namespace ember::test {

/// One fixture file of tests/fixtures, loaded once per test binary by the caller's static instance.
class TorchFixture {
public:
    explicit TorchFixture(const std::string& file)
        : f_(io::load_safetensors<double>(std::string(EMBER_SOURCE_DIR) + "/tests/fixtures/" + file)) {}
    [[nodiscard]] const io::Safetensors<double>& file() const { return f_; }
    [[nodiscard]] bool has(const std::string& name) const { return f_.tensors.count(name) != 0; }
    [[nodiscard]] const Tensor<double>& get(const std::string& name) const {
        auto it = f_.tensors.find(name);
        if (it == f_.tensors.end()) FAIL("fixture has no tensor '" << name << "'");
        return it->second;
    }
    /// A copy of tensor `name` that requires grad, to differentiate with respect to it.
    [[nodiscard]] Tensor<double> leaf(const std::string& name) const { return get(name).clone().requires_grad(true); }
    /// The I64 tensor `name` as class indices.
    [[nodiscard]] std::vector<std::int32_t> labels(const std::string& name) const {
        auto it = f_.integers.find(name);
        if (it == f_.integers.end()) FAIL("fixture has no integer tensor '" << name << "'");
        std::vector<std::int32_t> out;
        for (std::int64_t v : it->second.values) out.push_back(static_cast<std::int32_t>(v));
        return out;
    }

private:
    io::Safetensors<double> f_;
};

/// max |a - b| / max |b|: relative to the reference's scale, so that small gradients are not compared in absolute
/// terms and exact zeros (dead ReLUs, pooled-away inputs) are not divided by.
inline double rel_error(const Tensor<double>& a, const Tensor<double>& b) {
    REQUIRE(a.defined());
    REQUIRE(a.shape() == b.shape());
    double diff = 0, scale = 0;
    for (index_t i = 0; i < a.numel(); ++i) {
        diff = std::max(diff, std::abs(a.data()[i] - b.data()[i]));
        scale = std::max(scale, std::abs(b.data()[i]));
    }
    return scale == 0 ? diff : diff / scale;
}
inline double rel_error(double a, double b) { return std::abs(a - b) / std::max(std::abs(b), 1e-300); }

}  // namespace ember::test
