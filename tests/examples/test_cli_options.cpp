// Tests of `melanoma train`'s option table (examples/melanoma/train_options.hpp): what it declares is what the
// command line offers (the options a recipe alone holds are not flags), what backup.safetensors records for
// --resume and what the checkpoint metadata holds, the recipe included.
#include <catch2/catch.hpp>

#include <cstring>
#include <map>
#include <regex>
#include <set>

#include "../../examples/melanoma/train_options.hpp"
#include "melanoma_cli.hpp"

namespace {

namespace cli = melanoma_cli;

/// The flags train's --help lists.
std::set<std::string> help_flags(const std::string& help) {
    std::set<std::string> listed;
    std::istringstream lines(help);
    const std::regex option(R"(^\s+(?:-h,)?(--[a-z][a-z-]*))");
    for (std::string line; std::getline(lines, line);)
        if (std::smatch m; std::regex_search(line, m, option)) listed.insert(m[1]);
    return listed;
}

}  // namespace

TEST_CASE("train's option table agrees with its --help, its run options and its checkpoint metadata", "[examples][melanoma]") {
    const auto& table = melanoma::train_options();
    std::set<std::string> flags, command_line, recorded, meta_keys;
    for (const auto& o : table) {
        CAPTURE(o.flag);
        CHECK(flags.insert(o.flag).second);  // each option once
        if (o.scope != melanoma::Scope::recipe) command_line.insert(o.flag);
        if (o.resume != melanoma::Resume::ignored) recorded.insert(o.flag);
        if (o.meta_key) CHECK(meta_keys.insert(o.meta_key).second);
        CHECK((o.resume != melanoma::Resume::may_change || o.on_change));  // a change needs its rule
    }

    // --help lists the options the command line takes, each with its help, and no other (but --help itself): the
    // options a recipe alone holds are not flags
    const auto help = cli::melanoma("train --help");
    REQUIRE(help.code == 0);
    std::set<std::string> expected = command_line;
    expected.insert("--help");
    CHECK(help_flags(help.output) == expected);
    for (const auto& o : table)
        if (o.scope != melanoma::Scope::recipe) CHECK_THAT(help.output, Catch::Contains(o.help));

    // a run: backup.safetensors records exactly the options whose --resume is not `ignored`, and the checkpoint's
    // metadata holds the table's keys and those of each save (beside the library's own: format, input shape)
    const std::filesystem::path root = cli::tiny_dataset("cli-option-table");
    REQUIRE(cli::melanoma("train --data " + cli::q(root) + " --epochs 1 --batch 4 --out " + cli::q(root / "run")).code == 0);
    const auto backup = cli::checkpoint_metadata(root / "run" / "backup.safetensors");
    REQUIRE(backup.count("run_options"));
    const auto run_options = nlohmann::json::parse(backup.at("run_options"));
    std::set<std::string> keys;
    for (const auto& [flag, value] : run_options.items()) keys.insert(flag);
    CHECK(keys == recorded);
    const auto meta = cli::checkpoint_metadata(root / "run" / "best.safetensors");
    std::set<std::string> expected_meta = meta_keys;
    expected_meta.insert({"checkpoint_format", "recipe", "class_names", "alert_class", "alert_threshold",
                          "alert_threshold_from", "alert_threshold_tta", "epoch", "val_accuracy"});
    for (const auto& key : expected_meta) CHECK(meta.count(key) == 1);

    // the values: each option's own text, where the record does not keep a resolved value instead
    melanoma::TrainArgs given;
    given.epochs = 1;
    given.batch = 4;
    for (const auto& o : table) {
        CAPTURE(o.flag);
        if (o.resume != melanoma::Resume::ignored && !o.recorded)
            CHECK(run_options.at(o.flag).get<std::string>() == o.bind.text(given));
        if (o.meta_key && !o.recorded && !o.meta_value) CHECK(meta.at(o.meta_key) == o.bind.text(given));
    }
    CHECK(run_options.at("--lr").get<std::string>() == "0.001");
    CHECK(run_options.at("--dedup").get<std::string>() == "off");
    CHECK(meta.at("dedup") == "false");
    CHECK(meta.at("checkpoint_format") == std::to_string(melanoma::kCheckpointFormat));
    // the recipe: every option a recipe may hold, at the value the run trained with (defaults and flags alike)
    const auto recipe = cli::checkpoint_recipe(root / "run" / "best.safetensors");
    CHECK(recipe == melanoma::recipe_of(given));
    std::set<std::string> fields;
    for (const auto& [key, value] : recipe.items()) fields.insert(key);
    std::set<std::string> recipe_options;
    for (const auto& o : table) {
        if (o.scope == melanoma::Scope::flag) continue;
        std::string key = std::string(o.flag).substr(2);
        std::replace(key.begin(), key.end(), '-', '_');
        recipe_options.insert(key);
    }
    CHECK(fields == recipe_options);
    CHECK(recipe.at("epochs") == 1);
    CHECK(recipe.at("batch") == 4);
}
