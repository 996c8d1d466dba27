// Tests of `melanoma train` under SIGKILL: whenever the process dies, every checkpoint it left loads, and --resume
// from what survived ends with the weights of the run that was never stopped.
#include <catch2/catch.hpp>

#include <ember/core/random.hpp>
#include <ember/io/safetensors.hpp>

#include "melanoma_cli.hpp"

using namespace melanoma_cli;

namespace {
/// Starts the program with `args` in the background and kills it with SIGKILL after `seconds` (or lets it end
/// first); returns when it is gone.
void run_and_kill(const std::string& args, double seconds) {
    const fs::path log = ember::test::scratch_root() / "killed.log";
    std::string cmd = "'";  // appended, not "'" + string: GCC 12 -O3 warns (falsely) on that operator+
    cmd += MELANOMA_BIN;
    cmd += "' " + args + " > '" + log.string() + "' 2>&1 & pid=$!; sleep " + std::to_string(seconds) +
           "; kill -9 $pid 2> /dev/null; wait $pid 2> /dev/null; true";
    REQUIRE(std::system(cmd.c_str()) == 0);
}
}  // namespace

TEST_CASE("train killed with SIGKILL at any moment leaves loadable checkpoints, and --resume ends as the whole run",
          "[examples][melanoma][crash]") {
    const fs::path root = tiny_dataset("cli-kill");
    const std::string base = "train --data " + q(root) + " --batch 4 --threads 1 --epochs 8 " +
                             recipe_arg("augmented", R"({"augment": "flip-rotate-zoom"})") + " ";
    REQUIRE(melanoma(base + "--out " + q(root / "whole")).code == 0);
    ember::Generator gen(2024);  // the moments of the kills: drawn, but the same in every run of the test
    for (int attempt = 0; attempt < 6; ++attempt) {
        const double after = gen.uniform(0.2, 1.6);
        CAPTURE(attempt, after);
        run_and_kill(base + "--resume --out " + q(root / "run"), after);
        for (const auto& entry : fs::directory_iterator(root / "run"))
            if (entry.path().extension() == ".safetensors")  // never a half-written one (a .tmp may be left)
                CHECK_NOTHROW(ember::io::load_safetensors<float>(entry.path()));
    }
    const auto r = melanoma(base + "--resume --out " + q(root / "run"));
    REQUIRE(r.code == 0);
    CHECK(tensor_bytes(bytes(root / "run" / "best.safetensors")) == tensor_bytes(bytes(root / "whole" / "best.safetensors")));
    CHECK(bytes(root / "run" / "val_metrics.json") == bytes(root / "whole" / "val_metrics.json"));
}
