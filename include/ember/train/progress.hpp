// ember/train/progress.hpp - a one-line progress bar for an epoch (batches, loss, a metric, samples/s and ETA) or
// for other long work over images, such as decoding a dataset (steps, images/s and ETA).
// On a terminal the line is redrawn in place; otherwise (logs, CI) it prints at most every few seconds.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iomanip>
#include <ostream>
#include <sstream>
#include <string>

#include <unistd.h>

namespace ember::train {

class ProgressBar {
public:
    /// `total` steps (batches); `out` is where the line goes; `interactive` redraws with '\r' (default: when
    /// stdout is a terminal).
    ProgressBar(long total, std::ostream& out, bool interactive = ::isatty(STDOUT_FILENO) != 0)
        : total_(total), out_(out), interactive_(interactive), start_(Clock::now()), last_print_(start_) {}

    /// Reports that `done` steps are finished, having processed `images` samples in all, with the running mean
    /// loss and, when `metric` is named, the running value of that metric.
    void update(long done, long images, double loss, const std::string& metric = {}, double value = 0) {
        if (!due(done)) return;  // before formatting: most calls print nothing off a terminal
        std::ostringstream metrics;
        metrics << " loss " << std::fixed << std::setprecision(4) << loss;
        if (!metric.empty()) metrics << " " << metric << " " << value;
        metrics << " |";
        draw(done, images, metrics.str());
    }

    /// Reports progress of work that has no loss to show (loading, decoding): steps, images/s and ETA.
    void update(long done, long images) {
        if (due(done)) draw(done, images, "");
    }

    static std::string format_seconds(double s) {
        const long t = static_cast<long>(s + 0.5);
        std::ostringstream os;
        if (t >= 3600) os << t / 3600 << "h" << std::setw(2) << std::setfill('0') << (t % 3600) / 60 << "m";
        else if (t >= 60) os << t / 60 << "m" << std::setw(2) << std::setfill('0') << t % 60 << "s";
        else os << t << "s";
        return os.str();
    }

private:
    using Clock = std::chrono::steady_clock;

    /// Whether an update of `done` steps prints: always on a terminal and for the last step, else every 5 s.
    bool due(long done) const {
        return interactive_ || done >= total_ ||
               std::chrono::duration<double>(Clock::now() - last_print_).count() >= 5.0;
    }

    void draw(long done, long images, const std::string& metrics) {
        const auto now = Clock::now();
        const double elapsed = std::chrono::duration<double>(now - start_).count();
        const bool last = done >= total_;
        last_print_ = now;
        const double rate = elapsed > 0 ? static_cast<double>(images) / elapsed : 0.0;
        const double eta = done > 0 ? elapsed * static_cast<double>(total_ - done) / static_cast<double>(done) : 0.0;
        std::ostringstream line;
        const int width = 24;
        const int filled = total_ > 0 ? static_cast<int>(width * done / total_) : width;
        line << std::setw(static_cast<int>(std::to_string(total_).size())) << done << '/' << total_ << " ["
             << std::string(static_cast<std::size_t>(filled), '=') << (filled < width ? ">" : "")
             << std::string(static_cast<std::size_t>(std::max(0, width - filled - 1)), '.') << "]" << metrics << ' '
             << std::fixed << std::setprecision(1) << rate << " img/s | " << (last ? "took " : "ETA ")
             << format_seconds(last ? elapsed : eta);
        if (interactive_) out_ << '\r' << line.str() << "\033[K" << (last ? "\n" : "") << std::flush;
        else out_ << line.str() << '\n' << std::flush;
    }

    long total_;
    std::ostream& out_;
    bool interactive_;
    Clock::time_point start_, last_print_;
};

}  // namespace ember::train
