// Markdown and HTML renderings of the report's blocks.
#include <sstream>

#include "audit/report.h"
#include "audit/svg_chart.h"

namespace advtk {
namespace {

using Kind = ReportBlock::Kind;

std::string base64(const std::vector<char>& bytes) {
  static const char* const kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    uint32_t v = static_cast<uint8_t>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) v |= static_cast<uint8_t>(bytes[i + 1]) << 8;
    if (i + 2 < bytes.size()) v |= static_cast<uint8_t>(bytes[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? kAlphabet[(v >> 6) & 63] : '=';
    out += i + 2 < bytes.size() ? kAlphabet[v & 63] : '=';
  }
  return out;
}

// Data-derived text: a '|' would end a table cell, a newline the row, '<' start raw HTML.
std::string md_cell(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '|') {
      out += "\\|";
    } else if (c == '\n') {
      out += ' ';
    } else if (c == '<') {
      out += "&lt;";
    } else {
      out += c;
    }
  }
  return out;
}

// **bold** in paragraphs becomes <strong> in HTML; everything else is escaped.
std::string html_inline(const std::string& s) {
  std::string out;
  bool open = false;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s.compare(i, 2, "**") == 0) {
      out += open ? "</strong>" : "<strong>";
      open = !open;
      ++i;
    } else {
      out += xml_escape(std::string(1, s[i]));
    }
  }
  if (open) out += "</strong>";
  return out;
}

}  // namespace

std::string render_markdown(const std::vector<ReportBlock>& blocks) {
  std::ostringstream md;
  for (const ReportBlock& b : blocks) {
    switch (b.kind) {
      case Kind::Heading:
        md << std::string(b.level, '#') << " " << md_cell(b.text) << "\n\n";
        break;
      case Kind::Paragraph:
        md << b.text << "\n\n";
        break;
      case Kind::Flags:
        for (const auto& row : b.rows) md << "- " << md_cell(row[0]) << "\n";
        md << "\n";
        break;
      case Kind::Table: {
        md << "|";
        for (const auto& h : b.header) md << " " << md_cell(h) << " |";
        md << "\n|";
        for (size_t i = 0; i < b.header.size(); ++i) md << " --- |";
        md << "\n";
        for (const auto& row : b.rows) {
          md << "|";
          for (size_t i = 0; i < b.header.size(); ++i)
            md << " " << (i < row.size() ? md_cell(row[i]) : "") << " |";
          md << "\n";
        }
        md << "\n";
        break;
      }
      case Kind::Chart:
        break;  // charts are in report.html; the tables above carry the same numbers
      case Kind::Image:
        md << "![" << b.alt << "](" << b.text << ")\n\n";
        break;
    }
  }
  return md.str();
}

std::string render_html(const std::vector<ReportBlock>& blocks, const std::string& title,
                        const ReportImages& images) {
  std::ostringstream h;
  h << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
    << "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>"
    << xml_escape(title) << "</title>\n<style>\n"
    << "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:980px;"
       "margin:2rem auto;padding:0 1rem;color:#222;line-height:1.45}\n"
    << "h1{font-size:1.6rem;border-bottom:2px solid #333;padding-bottom:.3rem}\n"
    << "h2{font-size:1.25rem;margin-top:2.2rem;border-bottom:1px solid #ccc}\n"
    << "table{border-collapse:collapse;margin:.8rem 0;font-size:.9rem}\n"
    << "td,th{border:1px solid #ccc;padding:.25rem .55rem;text-align:left;vertical-align:top}\n"
    << "th{background:#f3f3f3}\ntr:nth-child(even) td{background:#fafafa}\n"
    << "ul.flags{background:#fff8e1;border-left:4px solid #f0a500;padding:.6rem 1rem .6rem 2rem}\n"
    << "figure{margin:1rem 0}svg{max-width:100%;height:auto}\n"
    << "img.grid{image-rendering:pixelated;max-width:100%;border:1px solid #ccc}\n"
    << "</style>\n</head>\n<body>\n";
  for (const ReportBlock& b : blocks) {
    switch (b.kind) {
      case Kind::Heading:
        h << "<h" << b.level << ">" << xml_escape(b.text) << "</h" << b.level << ">\n";
        break;
      case Kind::Paragraph:
        h << "<p>" << html_inline(b.text) << "</p>\n";
        break;
      case Kind::Flags:
        h << "<ul class=\"flags\">\n";
        for (const auto& row : b.rows) h << "<li>" << html_inline(row[0]) << "</li>\n";
        h << "</ul>\n";
        break;
      case Kind::Table: {
        h << "<table>\n";
        bool any_header = false;
        for (const auto& c : b.header) any_header |= !c.empty();
        if (any_header) {
          h << "<tr>";
          for (const auto& c : b.header) h << "<th>" << xml_escape(c) << "</th>";
          h << "</tr>\n";
        }
        for (const auto& row : b.rows) {
          h << "<tr>";
          for (size_t i = 0; i < b.header.size(); ++i)
            h << "<td>" << (i < row.size() ? xml_escape(row[i]) : "") << "</td>";
          h << "</tr>\n";
        }
        h << "</table>\n";
        break;
      }
      case Kind::Chart:
        h << "<figure>" << b.text << "</figure>\n";
        break;
      case Kind::Image: {
        const auto png = images.find(b.text);
        if (png != images.end())
          h << "<figure><img class=\"grid\" alt=\"" << xml_escape(b.alt)
            << "\" src=\"data:image/png;base64," << base64(png->second) << "\"></figure>\n";
        break;
      }
    }
  }
  h << "</body>\n</html>\n";
  return h.str();
}

}  // namespace advtk
