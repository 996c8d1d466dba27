// tests/helpers.hpp - shared test tools: random tensors, closeness checks, finite-difference gradient checks.
#pragma once

#include <catch2/catch.hpp>

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <string>
#include <system_error>

#include <ember/autograd/elementwise.hpp>
#include <ember/autograd/reduce.hpp>

namespace ember::test {

/// This test process's own scratch folder, removed when the process exits. ctest runs test cases as parallel
/// processes, so a fixed folder shared by two cases (the float and double variants of a template test, say)
/// let one rename or delete the other's files.
inline const std::filesystem::path& scratch_root() {
    struct Root {
        std::filesystem::path path;
        ~Root() {
            std::error_code ignored;
            std::filesystem::remove_all(path, ignored);
        }
    };
    static const Root root{std::filesystem::temp_directory_path() / ("ember-tests-" + std::to_string(::getpid()))};
    std::filesystem::create_directories(root.path);
    return root.path;
}

/// True, after WARNing "skipped, no shared data: <dir> not found ..." (which ctest reports as a skip), when the
/// folder of ../shared that a test reads is missing: `if (test::shared_data_missing(dir)) return;`.
inline bool shared_data_missing(const std::filesystem::path& dir) {
    if (std::filesystem::is_directory(dir)) return false;
    WARN("skipped, no shared data: " << dir.string() << " not found (../shared is only beside the project checkout)");
    return true;
}

/// max |a - b| / max(1, |b|) over all elements; shapes must match.
template <Real T>
double max_rel_error(const Tensor<T>& a, const Tensor<T>& b) {
    REQUIRE(a.shape() == b.shape());
    double worst = 0;
    for (index_t i = 0; i < a.numel(); ++i) {
        const double x = a.data()[i], y = b.data()[i];
        worst = std::max(worst, std::abs(x - y) / std::max(1.0, std::abs(y)));
    }
    return worst;
}

/// Checks the analytic gradient of scalar f(inputs) w.r.t. every input against central differences (double).
/// f must build its result from the given tensors (which have requires_grad set by this function).
inline double gradient_check(std::vector<Tensor<double>> inputs,
                             const std::function<Tensor<double>(const std::vector<Tensor<double>>&)>& f,
                             double eps = 1e-6) {
    for (auto& t : inputs) {
        t.zero_grad();
        t.requires_grad(true);
    }
    Tensor<double> out = f(inputs);
    REQUIRE(out.numel() == 1);
    out.backward();
    double worst = 0;
    for (auto& t : inputs) {
        Tensor<double> g = t.grad();
        REQUIRE(g.defined());
        NoGradGuard no_grad;
        for (index_t i = 0; i < t.numel(); ++i) {
            const double saved = t.data()[i];
            t.data()[i] = saved + eps;
            const double up = f(inputs).item();
            t.data()[i] = saved - eps;
            const double down = f(inputs).item();
            t.data()[i] = saved;
            const double numeric = (up - down) / (2 * eps);
            const double analytic = g.data()[i];
            worst = std::max(worst, std::abs(numeric - analytic) / std::max(1.0, std::abs(numeric)));
        }
    }
    return worst;
}

/// A weighted sum of all elements, so every output element gets a distinct upstream gradient.
inline Tensor<double> weighted_sum(const Tensor<double>& y, std::uint64_t seed = 99) {
    Generator gen(seed);
    Tensor<double> w = Tensor<double>::uniform(y.shape(), -1, 1, gen);
    return sum(mul(y, w));
}

/// Runs `f` and returns the message of the ExceptionType it throws (fails the test if it throws nothing else).
template <class ExceptionType, class F>
std::string error_message(F&& f) {
    try {
        f();
    } catch (const ExceptionType& e) {
        return e.what();
    }
    FAIL("expected an exception");
    return {};
}

}  // namespace ember::test
