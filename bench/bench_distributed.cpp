// bench_distributed: data-parallel training throughput of the reference model (180x180x3, global batch 32, Adam) and
// the time its processes spend summing gradients. Not Google Benchmark: it is one MPI job, run as
//     mpirun -np 2 -x OMP_NUM_THREADS=1 bench_distributed [steps]      (2 processes x 1 thread)
//     OMP_NUM_THREADS=2 bench_distributed [steps]                      (1 process x 2 threads)
// Prints images/s over the timed steps (after 2 warm-up steps) and, with several processes, the seconds per step
// spent in the gradient sums (the ring allreduce and waiting for the slowest process) and their share.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <span>

#include <ember/data/dataset.hpp>
#include <ember/data/loader.hpp>
#include <ember/distributed/distributed.hpp>
#include <ember/nn/nn.hpp>
#include <ember/optim/adam.hpp>
#include <ember/train/fit.hpp>

using namespace ember;
using Clock = std::chrono::steady_clock;

namespace {

/// A ProcessGroup that forwards to another and adds up the time spent in sum() from the gradients' size on.
class TimedGroup final : public train::ProcessGroup {
public:
    explicit TimedGroup(train::ProcessGroup& inner) : inner_(inner) {}
    [[nodiscard]] int rank() const override { return inner_.rank(); }
    [[nodiscard]] int size() const override { return inner_.size(); }
    void sum(std::span<float> v) override { timed([&] { inner_.sum(v); }, v.size() > 16); }
    void sum(std::span<double> v) override { inner_.sum(v); }
    void broadcast(std::span<std::byte> b, int root) override { inner_.broadcast(b, root); }
    std::vector<std::vector<std::byte>> gather_all(std::span<const std::byte> b) override { return inner_.gather_all(b); }
    double seconds = 0;

private:
    template <class F>
    void timed(F&& f, bool count) {
        const auto t0 = Clock::now();
        f();
        if (count) seconds += std::chrono::duration<double>(Clock::now() - t0).count();
    }
    train::ProcessGroup& inner_;
};

}  // namespace

int main(int argc, char** argv) {
    distributed::Environment mpi(argc, argv);
    const int steps = argc > 1 ? std::atoi(argv[1]) : 10, warmup = 2, batch = 32;
    std::optional<distributed::MpiGroup> world;
    std::optional<TimedGroup> timed;
    if (distributed::world_size() > 1) timed.emplace(world.emplace());
    const int rank = distributed::world_rank(), size = distributed::world_size();
    Generator gen(1);
    const index_t n = static_cast<index_t>(batch) * (steps + warmup);
    auto x = Tensor<float>::uniform({n, 180, 180, 3}, 0.f, 255.f, gen);
    auto y = Tensor<float>::empty({n});
    for (index_t i = 0; i < n; ++i) y.data()[i] = static_cast<float>(i % 9);
    const data::TensorDataset<float> set(x, y);
    data::DataLoader loader(set, {.batch_size = batch, .shard = rank, .shards = size});
    nn::Sequential<float> model{
        nn::Rescaling(1.0f / 255),
        nn::Conv2D(32, 5, nn::same, nn::relu), nn::Conv2D(32, 5, nn::same, nn::relu), nn::MaxPool2D(2),
        nn::Conv2D(64, 5, nn::same, nn::relu), nn::MaxPool2D(2),
        nn::Conv2D(64, 5, nn::same, nn::relu), nn::MaxPool2D(2),
        nn::Dropout(0.25), nn::Flatten(), nn::Dense(9)};
    model.build({180, 180, 3}, 123);
    optim::Adam<float> adam(model.parameters(), {.lr = 1e-3});
    train::FitOptions<float> o;
    o.loss = nn::SparseCategoricalCrossentropy<float>{};
    o.group = timed ? &*timed : nullptr;
    if (o.group) train::broadcast_training_state(*o.group, model, adam);
    loader.start_epoch(1);
    data::Batch<float> b;
    Clock::time_point start;
    for (int s = 0; s < steps + warmup && loader.next(b); ++s) {
        if (s == warmup) {
            start = Clock::now();
            if (timed) timed->seconds = 0;
        }
        (void)train::fit_detail::train_step(model, adam, b, o, 1, s + 1, steps + warmup);
    }
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    if (rank == 0) {
        std::printf("%d process(es) x %d thread(s): %d steps of batch %d in %.2f s: %.2f images/s, %.3f s/step\n", size,
                    max_threads(), steps, batch, seconds, steps * batch / seconds, seconds / steps);
        if (timed)
            std::printf("gradient sums (%zu floats = %.2f MB): %.4f s/step, %.2f%% of the step\n",
                        static_cast<std::size_t>(model.parameter_count()), model.parameter_count() * 4 / 1e6,
                        timed->seconds / steps, 100 * timed->seconds / seconds);
    }
    return 0;
}
