// The audit report for people: one document built from report.json, rendered as Markdown
// (report.md) and as one self-contained HTML file (report.html: inline SVG charts, the fragile
// examples as an embedded PNG, no external resources).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace advtk {

struct ReportBlock {
  enum class Kind { Heading, Paragraph, Table, Chart, Image, Flags };
  Kind kind = Kind::Paragraph;
  int level = 2;                               // headings
  std::string text;                            // heading, paragraph, chart SVG, image caption
  std::vector<std::string> header;             // tables
  std::vector<std::vector<std::string>> rows;  // tables; flags: one row of one cell per flag
};

// The report's blocks, in reading order; `grid_file` names the fragile-example PNG ("" if none).
std::vector<ReportBlock> build_report(const nlohmann::json& report, const std::string& grid_file);

std::string render_markdown(const std::vector<ReportBlock>& blocks);

// `grid_png`: the image the Image block shows, embedded as a data: URI.
std::string render_html(const std::vector<ReportBlock>& blocks, const std::string& title,
                        const std::vector<char>& grid_png);

}  // namespace advtk
