// The audit report for people: one document built from report.json, rendered as Markdown
// (report.md) and as one self-contained HTML file (report.html: inline SVG charts, the fragile
// examples as an embedded PNG, no external resources).
#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace advtk {

struct ReportBlock {
  enum class Kind { Heading, Paragraph, Table, Chart, Image, Flags };
  Kind kind = Kind::Paragraph;
  int level = 2;                               // headings
  std::string text;                            // heading, paragraph, chart SVG, image file name
  std::string alt;                             // images: what the picture shows
  std::vector<std::string> header;             // tables
  std::vector<std::vector<std::string>> rows;  // tables; flags: one row of one cell per flag
};

// The pictures beside the report, by file name (fragile.png, leakage.png): the audit's files.
using ReportImages = std::map<std::string, std::vector<char>>;

// The report's blocks, in reading order; a picture is shown when `images` holds its file.
std::vector<ReportBlock> build_report(const nlohmann::json& report,
                                      const ReportImages& images = {});

std::string render_markdown(const std::vector<ReportBlock>& blocks);

// Each Image block's picture, from `images`, embedded as a data: URI.
std::string render_html(const std::vector<ReportBlock>& blocks, const std::string& title,
                        const ReportImages& images);

}  // namespace advtk
