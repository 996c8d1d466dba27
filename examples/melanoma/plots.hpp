// examples/melanoma/plots.hpp - PNG plots through gnuplot (terminal pngcairo): training curves, class
// distribution, confusion matrix, melanoma ROC curve. Without gnuplot each function says so once and returns false; the CSV/JSON
// files the plots are drawn from are written regardless.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <ember/train/metrics.hpp>

namespace melanoma::plots {

/// A gnuplot single-quoted string holding `text` (a quote inside is doubled, gnuplot's escape).
inline std::string gp_quote(const std::string& text) {
    std::string q = "'";
    for (const char ch : text) q += ch == '\'' ? std::string("''") : std::string(1, ch);
    return q + "'";
}
inline std::string gp_quote(const std::filesystem::path& p) { return gp_quote(p.string()); }

/// A gnuplot double-quoted string (backslash and double quote escaped), for tic labels.
inline std::string gp_dquote(const std::string& text) {
    std::string q = "\"";
    for (const char ch : text) q += (ch == '"' || ch == '\\') ? std::string("\\") + ch : std::string(1, ch);
    return q + "\"";
}

/// A POSIX shell single-quoted word.
inline std::string sh_quote(const std::string& text) {
    std::string q = "'";
    for (const char ch : text) q += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
    return q + "'";
}

inline bool gnuplot_available() {
    static const bool ok = std::system("command -v gnuplot > /dev/null 2>&1") == 0;
    static bool warned = false;
    if (!ok && !warned) {
        std::cerr << "note: gnuplot not found (apt-get install gnuplot-nox): plots skipped, CSV/JSON written\n";
        warned = true;
    }
    return ok;
}

/// Runs a gnuplot script; returns false (with a message) when gnuplot is missing or fails.
inline bool run_gnuplot(const std::filesystem::path& dir, const std::string& name, const std::string& script) {
    if (!gnuplot_available()) return false;
    const auto script_path = dir / (name + ".gp");
    {
        std::ofstream out(script_path);
        out << script;
    }
    const std::string cmd = "gnuplot " + sh_quote(script_path.string()) + " 2> " + sh_quote((dir / (name + ".gnuplot.log")).string());
    const bool ok = std::system(cmd.c_str()) == 0;
    if (!ok) std::cerr << "warning: gnuplot failed for " << name << " (see " << (dir / (name + ".gnuplot.log")) << ")\n";
    std::filesystem::remove(script_path);
    if (ok) std::filesystem::remove(dir / (name + ".gnuplot.log"));
    return ok;
}

/// Accuracy and loss curves (train, and validation where the run had one) from history.csv into curves.png. The
/// columns are read by their names (the CSV's header), so their order does not matter.
inline bool training_curves(const std::filesystem::path& run_dir, bool validation = true) {
    const auto csv = (run_dir / "history.csv").string();
    const std::string script =
        "set terminal pngcairo size 1200,480 font 'sans,10'\n"
        "set output " + gp_quote(run_dir / "curves.png") + "\n"
        "set datafile separator ','\nset key autotitle columnhead\nset multiplot layout 1,2\n"
        "set title 'Accuracy'\nset xlabel 'epoch'\nset yrange [0:1]\nset grid\n"
        "plot " + gp_quote(csv) + " using 'epoch':'accuracy' with linespoints title 'train'" +
        (validation ? ", '' using 'epoch':'val_accuracy' with linespoints title 'validation', "
                      "'' using 'epoch':'val_balanced_accuracy' with linespoints title 'validation (balanced)'"
                    : "") +
        "\nset title 'Loss'\nset autoscale y\n"
        "plot " + gp_quote(csv) + " using 'epoch':'loss' with linespoints title 'train'" +
        (validation ? ", '' using 'epoch':'val_loss' with linespoints title 'validation'" : "") +
        "\nunset multiplot\n";
    return run_gnuplot(run_dir, "curves", script);
}

/// Horizontal bars of image counts per class and split.
inline bool class_distribution(const std::filesystem::path& dir, const std::vector<std::string>& names,
                               const std::vector<std::vector<long>>& counts, const std::vector<std::string>& splits) {
    const auto dat = dir / "class_distribution.dat";
    {
        std::ofstream out(dat);
        for (std::size_t c = 0; c < names.size(); ++c) {
            out << '"' << names[c] << '"';
            for (const auto& col : counts) out << '\t' << col[c];
            out << '\n';
        }
    }
    std::string plot = "plot ";
    for (std::size_t s = 0; s < splits.size(); ++s)
        plot += (s ? ", '' " : gp_quote(dat) + " ") + std::string("using ") + std::to_string(s + 2) +
                ":xtic(1) title " + gp_quote(splits[s]);
    const std::string script =
        "set terminal pngcairo size 1000,520 font 'sans,10'\n"
        "set output " + gp_quote(dir / "class_distribution.png") + "\n"
        "set title 'Images per class'\nset style data histograms\nset style histogram clustered gap 1\n"
        "set style fill solid 0.8 border -1\nset xtics rotate by -30 scale 0\nset bmargin 9\nset yrange [0:*]\nset offsets 0,0,graph 0.08,0\nset grid ytics\nset key top left\n"
        "set datafile separator '\\t'\n" + plot + "\n";
    const bool ok = run_gnuplot(dir, "class_distribution", script);
    std::filesystem::remove(dat);
    return ok;
}

/// The confusion matrix as a heat map with counts, rows = true class.
inline bool confusion_matrix(const std::filesystem::path& dir, const ember::train::ConfusionMatrix& cm,
                             const std::vector<std::string>& names) {
    const auto dat = dir / "confusion.dat";
    const int n = cm.classes();
    {
        std::ofstream out(dat);
        for (int t = 0; t < n; ++t)
            for (int p = 0; p < n; ++p) {
                const double s = static_cast<double>(cm.support(t));
                out << p << ' ' << t << ' ' << (s > 0 ? static_cast<double>(cm.count(t, p)) / s : 0.0) << ' '
                    << cm.count(t, p) << '\n';
            }
    }
    std::string tics;
    for (int i = 0; i < n; ++i) tics += (i ? ", " : "") + gp_dquote(names[static_cast<std::size_t>(i)]) + " " + std::to_string(i);
    const std::string script =
        "set terminal pngcairo size 900,800 font 'sans,10'\n"
        "set output " + gp_quote(dir / "confusion_matrix.png") + "\n"
        "set title 'Confusion matrix (row-normalised; numbers are counts)'\n"
        "set xlabel 'predicted'\nset ylabel 'true'\nset xrange [-0.5:" + std::to_string(n - 0.5) + "]\n"
        "set yrange [" + std::to_string(n - 0.5) + ":-0.5]\nset xtics (" + tics + ") rotate by -35\n"
        "set ytics (" + tics + ")\nset cbrange [0:1]\nset palette defined (0 'white', 1 '#b2182b')\n"
        "plot " + gp_quote(dat) + " using 1:2:3 with image notitle, '' using 1:2:(sprintf('%d', $4)) with labels notitle\n";
    const bool ok = run_gnuplot(dir, "confusion_matrix", script);
    std::filesystem::remove(dat);
    return ok;
}

/// The melanoma ROC curve from melanoma_roc.csv (in `dir`) into melanoma_roc.png, with the alert's operating point.
inline bool roc_curve(const std::filesystem::path& dir, double auc, double alert_fpr, double alert_tpr, double threshold) {
    const auto csv = (dir / "melanoma_roc.csv").string();
    std::ostringstream s;
    s << std::setprecision(3) << std::fixed;
    s << "set terminal pngcairo size 640,600 font 'sans,10'\n"
      << "set output " << gp_quote(dir / "melanoma_roc.png") << "\n"
      << "set title 'Melanoma against the rest: ROC curve (AUC " << auc << ")'\n"
      << "set xlabel '1 - specificity (false positive rate)'\nset ylabel 'sensitivity (true positive rate)'\n"
      << "set xrange [0:1]\nset yrange [0:1]\nset size square\nset grid\nset key bottom right\nset datafile separator ','\n"
      << "set label 1 \"alert: p(melanoma) >= " << std::setprecision(4) << std::defaultfloat << threshold << std::fixed
      << std::setprecision(3) << "\\nsensitivity " << alert_tpr << ", specificity " << 1 - alert_fpr
      << "\" at graph 0.45, graph 0.25\n"
      << "plot " << gp_quote(csv) << " every ::1 using 2:3 with lines lw 2 title 'p(melanoma)', x with lines dt 2 lc 'gray' "
      << "title 'chance', '-' using 1:2 with points pt 7 ps 1.5 lc 'red' title 'alert'\n"
      << alert_fpr << "," << alert_tpr << "\ne\n";  // inline data obeys the comma separator too
    return run_gnuplot(dir, "melanoma_roc", s.str());
}

}  // namespace melanoma::plots
