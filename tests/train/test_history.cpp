// Tests of ember/train/history.hpp: an epoch's named figures, the history's columns in the order they were first
// set, and its CSV (missing figures as empty fields).
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>

#include <ember/train/history.hpp>

#include "helpers.hpp"

using namespace ember;

TEST_CASE("EpochRecord: figures by name, set in place or appended, NaN when absent", "[train][history]") {
    train::EpochRecord r{.epoch = 3};
    CHECK_FALSE(r.has("loss"));
    CHECK(std::isnan(r.get("loss")));
    r.set("loss", 0.5);
    r.set("accuracy", 0.75);
    r.set("loss", 0.25);  // in place: the order stays
    CHECK(r.has("loss"));
    CHECK(r.get("loss") == 0.25);
    REQUIRE(r.values.size() == 2);
    CHECK(r.values[0].first == "loss");
    CHECK(r.values[1].first == "accuracy");
}

TEST_CASE("History: columns in first-set order, a column per figure, the CSV with empty missing fields",
          "[train][history]") {
    train::History h;
    CHECK(h.columns().empty());
    CHECK_FALSE(h.validated());
    train::EpochRecord a{.epoch = 1}, b{.epoch = 2};
    a.set("loss", 0.5);
    a.set("learning_rate", 0.001);
    b.set("loss", 0.25);
    b.set("val_loss", 0.125);  // first set by epoch 2: the last column
    b.set("learning_rate", std::numeric_limits<double>::quiet_NaN());
    h.epochs = {a, b};
    CHECK(h.validated());
    CHECK(h.columns() == std::vector<std::string>{"loss", "learning_rate", "val_loss"});
    const auto val = h.column("val_loss");
    REQUIRE(val.size() == 2);
    CHECK(std::isnan(val[0]));
    CHECK(val[1] == 0.125);
    const auto path = test::scratch_root() / "history.csv";
    h.write_csv(path);
    std::ifstream in(path);
    CHECK(std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()) ==
          "epoch,loss,learning_rate,val_loss\n1,0.5,0.001,\n2,0.25,,0.125\n");
    CHECK_THAT(test::error_message<IoError>([&] { h.write_csv(test::scratch_root() / "no-such-dir" / "h.csv"); }),
               Catch::StartsWith("cannot write history to '") && Catch::EndsWith("h.csv'"));
}
