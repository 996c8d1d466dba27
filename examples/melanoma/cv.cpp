// examples/melanoma/cv.cpp - `melanoma cv`: stratified k-fold cross-validation of a recipe over the Train folder
// (deduplicated, so no copy of an image sits in two folds), one training per fold, resumable fold by fold; the
// held-out predictions of all folds pooled into the out-of-fold report (cv_report.cpp) that every choice of recipe
// is made on.
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <fstream>
#include <iostream>
#include <map>
#include <optional>

#include <ember/core/parallel.hpp>
#include <ember/data/split.hpp>
#include <ember/vision/dedup.hpp>

#include "commands.hpp"
#include "job.hpp"
#include "train_data.hpp"

using namespace ember;

namespace melanoma {

namespace {

/// An exclusive lock on a fold's folder (flock on fold-k/lock), so that two cv processes on one --out (one per
/// fold, side by side) never train the same fold into the same files; the system drops it when the process ends,
/// however it ends.
class FoldLock {
public:
    explicit FoldLock(const fs::path& dir) {
        fs::create_directories(dir);
        fd_ = ::open((dir / "lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd_ < 0) throw UsageError("cv: cannot create " + (dir / "lock").string());
        held_ = ::flock(fd_, LOCK_EX | LOCK_NB) == 0;
    }
    ~FoldLock() { ::close(fd_); }
    FoldLock(const FoldLock&) = delete;
    FoldLock& operator=(const FoldLock&) = delete;
    [[nodiscard]] bool held() const { return held_; }

private:
    int fd_ = -1;
    bool held_ = false;
};

/// fold-1 ... fold-K: one training run each.
fs::path fold_dir(const CvArgs& a, int fold) { return a.out / ("fold-" + std::to_string(fold + 1)); }

/// The recipe with the command's data and machine options: what every fold trains with.
TrainArgs fold_base(const CvArgs& a) {
    TrainArgs base;
    apply_recipe(base, a.recipe);
    check_fold_recipe(base);  // before hours of work (or a download), not after the first fold's
    base.recipe = a.recipe;
    base.data = a.data.empty() ? default_data_dir() : a.data;
    base.threads = a.threads;
    base.loader_threads = a.loader_threads;
    base.strict = a.strict;
    base.limit = a.limit;
    base.folds = a.folds;
    return base;
}

/// Says which classes are too small for the folds (a fold without them scores no recall for them) and writes
/// folds.json, the fold of every image; a folds.json already there (an earlier invocation into the same --out)
/// must hold the same folds, else the folds trained so far held out other images than the rest would.
void describe_folds(const CvArgs& a, const TrainArgs& base) {
    // deduplicated on the pixels training sees (after the recipe's colour constancy), as each fold's run does
    vision::ImageSet set = load_folder(split_dir(base.data, "Train"), base.strict, base.color_constancy);
    set = vision::subset(set, vision::deduplicate(set).keep);
    std::vector<long> counts(set.class_names.size(), 0);
    for (const auto label : set.labels) ++counts[static_cast<std::size_t>(label)];
    for (std::size_t c = 0; c < counts.size(); ++c)
        if (counts[c] < a.folds)
            std::cerr << "warning: class '" << set.class_names[c] << "' has " << counts[c] << " image(s) after "
                      << "deduplication, fewer than the " << a.folds << " folds: " << a.folds - counts[c]
                      << " fold(s) hold none of it, and its recall rests on " << counts[c] << " image(s)\n";
    const auto fold_of = cv_folds(set, a.folds, kFoldSeed);
    json images = json::object();
    for (std::size_t i = 0; i < set.size(); ++i) images[set.paths[i].string()] = fold_of[i] + 1;
    const json folds{{"folds", a.folds}, {"seed", kFoldSeed}, {"images", images}};
    const fs::path file = a.out / "folds.json";
    if (fs::exists(file)) {
        json before;
        try {
            std::ifstream in(file);
            before = json::parse(in);
        } catch (const json::exception& e) {
            throw UsageError(file.string() + " is not the folds.json cv writes: " + e.what());
        }
        if (before != folds)
            throw UsageError(a.out.string() + " holds a cross-validation with other folds (" + file.string() +
                             ": another --folds, Train folder or colour constancy); use another --out");
    }
    write_json(file, folds);
}

}  // namespace

int run_cv(const CvArgs& a) {
    EMBER_CHECK(a.fold <= a.folds, UsageError, "--fold ", a.fold, " of --folds ", a.folds);
    const TrainArgs base = fold_base(a);
    if (job().root()) ensure_writable_dir(a.out);
    barrier();
    if (a.threads > 0) ember::set_num_threads(a.threads);
    if (job().root()) describe_folds(a, base);
    for (int fold = 0; fold < a.folds; ++fold) {
        if (a.fold > 0 && fold != a.fold - 1) continue;
        const fs::path dir = fold_dir(a, fold);
        // Rank 0 decides for a data-parallel job (one lock per job), so that its processes train the same folds.
        if (root_decides(fs::exists(dir / "oof.json"))) {  // (write_cv_report checks that it is this cross-validation's)
            std::cout << "Fold " << fold + 1 << " of " << a.folds << " is done (" << (dir / "oof.json") << ")\n";
            continue;
        }
        std::optional<FoldLock> lock;
        if (job().root()) lock.emplace(dir);
        if (!root_decides(lock && lock->held())) {
            std::cout << "Fold " << fold + 1 << " of " << a.folds << " is being trained by another cv process: skipped\n";
            continue;
        }
        std::cout << "\n== fold " << fold + 1 << " of " << a.folds << " -> " << dir << "\n";
        TrainArgs run = base;
        run.out = dir;
        run.fold = fold;
        run.resume = true;  // a fold cut short goes on from its last complete epoch
        if (const int code = run_train(run); code != 0) return code;
        barrier();  // rank 0 has written the fold's oof.json
    }
    if (!job().root()) return 0;
    std::vector<fs::path> done;
    for (int fold = 0; fold < a.folds; ++fold)
        if (fs::exists(fold_dir(a, fold) / "oof.json")) done.push_back(fold_dir(a, fold) / "oof.json");
    if (static_cast<int>(done.size()) < a.folds) {
        std::cout << "\n" << done.size() << " of " << a.folds << " folds are done: the out-of-fold report comes when "
                  << "all are (run the same command again for the others)\n";
        return 0;
    }
    return write_cv_report(a.out, done, base);
}

}  // namespace melanoma
