// Tests of recipe files (examples/melanoma/recipes/*.json; train_options.hpp): a recipe's fields replace train's
// defaults, flags given replace its fields, the checkpoint records the recipe a run trained with, and a recipe that
// is not one - an unknown key, a value of another type, out of range or not among the choices, a list of another
// length, deeper nesting, not a JSON object, too large, missing - is refused with exit code 2, naming the file and
// the key, before any image is read.
#include <catch2/catch.hpp>

#include <set>

#include "../../examples/melanoma/train_options.hpp"
#include "melanoma_cli.hpp"

using namespace melanoma_cli;

namespace {

/// A --data that does not exist: a recipe refused after the data was read would say so first.
const std::string kNoData = "'/nonexistent/melanoma-data'";

/// The shipped recipes.
std::vector<fs::path> shipped_recipes() {
    std::vector<fs::path> recipes;
    for (const auto& entry : fs::directory_iterator(fs::path(EMBER_SOURCE_DIR) / "examples" / "melanoma" / "recipes"))
        if (entry.path().extension() == ".json") recipes.push_back(entry.path());
    std::sort(recipes.begin(), recipes.end());
    return recipes;
}

}  // namespace

TEST_CASE("a recipe's fields apply, flags given override them, and the checkpoint records the recipe", "[examples][melanoma]") {
    const fs::path root = tiny_dataset("cli-recipe-applies");
    const std::string recipe = recipe_arg("applies", R"({
        "name": "a test recipe", "description": "fields of every kind, and two that the flags below override",
        "epochs": 3, "lr": 0.01, "batch": 4, "seed": 7, "dedup": true, "augment": "flip-rotate-zoom", "rotation": 0.1,
        "zoom": [-0.1, 0.1], "label_smoothing": 0.1, "monitor": "val_loss", "alert_sensitivity": 0.8})");
    const auto r = melanoma_cli::melanoma("train " + recipe + " --data " + q(root) + " --epochs 1 --lr 0.002 --out " + q(root / "run"));
    REQUIRE(r.code == 0);
    CHECK_THAT(r.output, Catch::Contains("Deduplicated: dropped 0 same-class copies") &&
                             Catch::Contains("Split (stratified, seed 7): ") &&
                             Catch::Contains("Augmentation on the training side: RandomFlip, RandomRotation(0.1), RandomZoom(-0.1, 0.1)") &&
                             Catch::Contains("Label smoothing 0.1") && Catch::Contains("Epoch 1/1 (lr 0.002)") &&
                             !Catch::Contains("Epoch 2/"));
    const fs::path ckpt = root / "run" / "best.safetensors";
    const auto meta = checkpoint_metadata(ckpt);
    CHECK(meta.at("checkpoint_format") == "2");
    CHECK(meta.at("dedup") == "true");
    CHECK(meta.at("seed") == "7");
    CHECK(meta.at("augment") == "flip-rotate-zoom");
    // the recipe the run trained with: the file's fields, the flags' values where given, the defaults elsewhere
    const auto trained = checkpoint_recipe(ckpt);
    melanoma::TrainArgs expected;
    expected.epochs = 1;
    expected.lr = 0.002;
    expected.batch = 4;
    expected.seed = 7;
    expected.dedup = true;
    expected.augment = "flip-rotate-zoom";
    expected.rotation = 0.1;
    expected.zoom = {-0.1, 0.1};
    expected.label_smoothing = 0.1;
    expected.monitor = "val_loss";
    expected.alert_sensitivity = 0.8;
    CHECK(trained == melanoma::recipe_of(expected));
    CHECK_FALSE(trained.contains("name"));  // free text, not a field of the training
    // the run options backup.safetensors records (what --resume checks) hold the same values
    const auto options = nlohmann::json::parse(checkpoint_metadata(root / "run" / "backup.safetensors").at("run_options"));
    CHECK(options.at("--epochs") == "1");
    CHECK(options.at("--lr") == "0.002");
    CHECK(options.at("--monitor") == "val_loss");
    CHECK(options.at("--alert-sensitivity") == "0.8");
}

TEST_CASE("a recipe the checkpoint records reads back as the same recipe", "[examples][melanoma]") {
    melanoma::TrainArgs a;
    a.epochs = 2;
    a.lr_schedule = "cosine";
    a.zoom = {-0.25, 0.5};
    a.color_jitter = {0.1, 0.2, 0.3, 0.04};
    a.stretch = 1.25;
    a.class_weights = true;
    a.seed = 18446744073709551615ULL;  // the largest seed
    const nlohmann::json recipe = melanoma::recipe_of(a);
    const fs::path file = recipe_file("round-trip", recipe.dump(2));
    melanoma::TrainArgs b;
    melanoma::apply_recipe(b, file);
    CHECK(melanoma::recipe_of(b) == recipe);
    CHECK(b.seed == a.seed);
    CHECK(b.zoom == a.zoom);
    // a flag the command line gave keeps its value
    melanoma::TrainArgs c;
    c.epochs = 9;
    c.given = {"--epochs"};
    melanoma::apply_recipe(c, file);
    CHECK(c.epochs == 9);
    CHECK(c.lr_schedule == "cosine");
}

TEST_CASE("a recipe that is not one is refused with exit code 2, naming the file and the key", "[examples][melanoma][errors]") {
    const std::string train = "train --data " + kNoData + " --out " + q(fresh_dir("cli-recipe-refused") / "run");
    int files = 0;
    // `text` as a recipe: refused as "error: recipe '<file>'<message>", before any image is read
    const auto refused = [&](const std::string& text, const std::string& message) {
        const fs::path file = recipe_file("refused-" + std::to_string(files++), text);
        const Run r = melanoma_cli::melanoma(train + " --recipe " + q(file));
        INFO(text << "\n" << r.output);
        CHECK(r.code == 2);
        CHECK_THAT(r.output, Catch::StartsWith("error: recipe '" + file.string() + "'" + message));
    };
    const std::string keys = "(a recipe holds name, description, model, epochs, batch, seed, val_split, split, augment, "
                             "rotation, zoom, color_constancy, color_jitter, stretch, rebalance, class_weights, dedup, "
                             "lr, weight_decay, label_smoothing, global_clipnorm, ema, lr_schedule, patience, monitor, "
                             "alert_sensitivity)";
    refused(R"({"epochs": 2, "learning_rate": 0.1})", ": unknown key \"learning_rate\" " + keys);
    refused(R"({"threads": 2})", ": unknown key \"threads\"");    // the machine's, not the recipe's: a flag
    refused(R"({"data": "x"})", ": unknown key \"data\"");
    refused(R"({"channel_gain": 1.2})", ": unknown key \"channel_gain\"");  // removed from the program
    refused(R"({"Epochs": 2})", ": unknown key \"Epochs\"");
    // types: a number where an integer is wanted is not one, nor is text a number or a flag
    refused(R"({"epochs": "5"})", ": \"epochs\" must be an integer, got \"5\"");
    refused(R"({"epochs": 2.5})", ": \"epochs\" must be an integer, got 2.5");
    refused(R"({"epochs": 2.0})", ": \"epochs\" must be an integer, got 2.0");
    refused(R"({"epochs": 50.0})", ": \"epochs\" must be an integer, got 50.0");  // equal to the default in JSON
    refused(R"({"epochs": 20, "epochs": 50})", ": key \"epochs\" is given twice");
    refused(R"({"rebalance": 1000000})", ": \"rebalance\" must be <= 100000, got 1000000");
    refused(R"({"dedup": "yes"})", ": \"dedup\" must be true or false, got \"yes\"");
    refused(R"({"dedup": 1})", ": \"dedup\" must be true or false, got 1");
    refused(R"({"lr": "0.1"})", ": \"lr\" must be a number, got \"0.1\"");
    refused(R"({"augment": true})", ": \"augment\" must be a string, got true");
    refused(R"({"name": 3})", ": \"name\" must be a string, got 3");
    refused(R"({"zoom": 0.1})", ": \"zoom\" must be a list of numbers, got 0.1");
    refused(R"({"zoom": ["a", 0.1]})", ": \"zoom\" must be a number, got \"a\"");
    refused(R"({"epochs": 99999999999})", ": \"epochs\" is out of range, got 99999999999");
    // ranges and choices
    refused(R"({"lr": -1})", ": \"lr\" must be a finite number > 0, got -1");
    refused(R"({"label_smoothing": 2})", ": \"label_smoothing\" must be in [0, 1] (0: off), got 2");
    refused(R"({"augment": "spin"})", ": \"augment\" must be one of none | flip-rotate-zoom, got \"spin\"");
    refused(R"({"lr_schedule": "Cosine"})", ": \"lr_schedule\" must be one of constant | cosine | step | plateau, got \"Cosine\"");
    refused(R"({"split": "random"})", ": \"split\" must be one of stratified | keras, got \"random\"");
    refused(R"({"model": "resnet50"})", ": \"model\" must be one of reference-cnn | ember-separable, got \"resnet50\"");
    refused(R"({"zoom": [0.1]})", ": \"zoom\" must be a list of 2 numbers, got [0.1]");
    refused(R"({"zoom": [0.1, 0.2, 0.3]})", ": \"zoom\" must be a list of 2 numbers, got [0.1,0.2,0.3]");
    // the shape of the file: an object of fields, a list of numbers in a field and no deeper
    refused(R"({"zoom": [[0.1], 0.2]})", ": nested deeper than a list in a field");
    refused(R"({"zoom": {"lower": [0.1]}})", ": nested deeper than a list in a field");
    refused(R"({"zoom": {"lower": 0.1}})", ": \"zoom\" must be a list of numbers, got {\"lower\":0.1}");
    refused("[1, 2]", " must be a JSON object of fields, got array");
    refused("\"epochs\"", " must be a JSON object of fields, got string");
    refused("{\"epochs\": 2,}", " is not valid JSON: ");
    refused("", " is not valid JSON: ");
    refused(R"({"lr": 1e400})", " is not valid JSON: ");  // JSON has no infinity
    // a file that is too large (a recipe is a few hundred bytes), missing, or a folder
    refused("{\"description\": \"" + std::string(70000, 'x') + "\"}", " holds 70019 bytes; a recipe is at most 65536");
    for (const fs::path& none : {ember::test::scratch_root() / "no-such-recipe.json", fresh_dir("cli-recipe-folder")}) {
        const Run r = melanoma_cli::melanoma(train + " --recipe " + q(none));
        CHECK(r.code == 2);
        CHECK_THAT(r.output, Catch::StartsWith("error: recipe '" + none.string() + "' is not a readable file"));
    }
}

TEST_CASE("cv and release read the recipe as train does, and train takes no recipe field as a flag", "[examples][melanoma][errors]") {
    const fs::path root = fresh_dir("cli-recipe-commands");
    const fs::path bad = recipe_file("commands-bad", R"({"ema": 1})");
    const std::string refusal = "error: recipe '" + bad.string() + "': \"ema\" must be in [0, 1) (0: off), got 1";
    auto r = melanoma_cli::melanoma("cv --recipe " + q(bad) + " --data " + kNoData + " --folds 2 --out " + q(root / "cv"));
    CHECK(r.code == 2);
    CHECK_THAT(r.output, Catch::StartsWith(refusal));
    r = melanoma_cli::melanoma("release --recipe " + q(bad) + " --cv " + q(root / "cv") + " --data " + kNoData + " --out " +
                 q(root / "model") + " --work " + q(root / "work"));
    CHECK(r.code == 2);
    CHECK_THAT(r.output, Catch::StartsWith(refusal));
    CHECK_FALSE(fs::exists(root / "model"));
    // the options a recipe holds, and those the program no longer has, are no flags: refused as usage errors
    for (const char* flag : {"--augment none", "--weight-decay 0.1", "--dedup", "--monitor val_loss", "--extra-train x",
                             "--channel-gain 1.2", "--split-seed 3"}) {
        r = melanoma_cli::melanoma("train --data " + kNoData + " --out " + q(root / "run") + " " + flag);
        CAPTURE(flag);
        CHECK(r.code == 2);
        CHECK_THAT(r.output, Catch::Contains(std::string(flag).substr(0, std::string(flag).find(' '))) &&
                                 Catch::Contains("not expected"));
    }
    for (const char* removed : {"calibrate --model x.safetensors", "evaluate --data d --model m --exclude-copies-of d",
                                "evaluate --data d --model m --val-split 0.2", "evaluate --data d --model m --seed 1"}) {
        r = melanoma_cli::melanoma(removed);
        CAPTURE(removed);
        CHECK(r.code == 2);
    }
}

TEST_CASE("the shipped recipes are recipes, and one of them trains", "[examples][melanoma]") {
    const auto recipes = shipped_recipes();
    CHECK(recipes.size() == 5);
    std::set<std::string> names;
    for (const fs::path& file : recipes) {
        CAPTURE(file);
        const auto fields = nlohmann::json::parse(bytes(file));
        CHECK(fields.at("name") == file.stem().string());  // a recipe is named after its file
        names.insert(file.stem().string());
        melanoma::TrainArgs a;
        REQUIRE_NOTHROW(melanoma::apply_recipe(a, file));
        const auto applied = melanoma::recipe_of(a);
        for (const auto& [key, value] : fields.items())
            if (key != "name" && key != "description") CHECK(applied.at(key) == value);
        // the program reads each as train's recipe: refused only for the missing alert threshold --val-split 0 needs,
        // which train checks after the recipe and before any image
        const Run r = melanoma_cli::melanoma("train --recipe " + q(file) + " --data " + kNoData + " --val-split 0 --out " +
                               q(fresh_dir("cli-shipped") / "run"));
        CHECK(r.code == 2);
        CHECK_THAT(r.output, Catch::StartsWith("error: --val-split 0 leaves no validation split to choose the melanoma alert "
                                               "threshold on"));
    }
    CHECK(names == std::set<std::string>{"ember-recommended", "ember-separable", "seed-augmented", "seed-baseline",
                                         "seed-rebalanced"});
    // one trains, briefly, on a small sample: its recipe is what the checkpoint records
    const fs::path root = tiny_dataset("cli-shipped-trains");
    const fs::path file = fs::path(EMBER_SOURCE_DIR) / "examples" / "melanoma" / "recipes" / "ember-recommended.json";
    const Run r = melanoma_cli::melanoma("train --recipe " + q(file) + " --data " + q(root) + " --epochs 1 --limit 4 --out " +
                                         q(root / "run"));
    REQUIRE(r.code == 0);
    CHECK_THAT(r.output, Catch::Contains("Deduplicated: ") && Catch::Contains("Split (stratified, seed 123)") &&
                             Catch::Contains("RandomFlip, RandomRotation(0.2), RandomZoom(0.2, 0.3)") &&
                             Catch::Contains("Random horizontal stretch on the training side: width x [0.750019, 1.3333]"));
    const auto trained = checkpoint_recipe(root / "run" / "best.safetensors");
    const auto fields = nlohmann::json::parse(bytes(file));
    for (const auto& [key, value] : fields.items())
        if (key != "name" && key != "description") CHECK(trained.at(key) == (key == "epochs" ? nlohmann::json(1) : value));
}
