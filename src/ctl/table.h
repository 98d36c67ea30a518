// Plain-text tables for xvgpuctl's human output (columns padded to the widest cell).
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace xvgpu::ctl {

class Table {
 public:
  explicit Table(std::vector<std::string> header) : header_(std::move(header)) {}
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  [[nodiscard]] bool empty() const { return rows_.empty(); }
  void print(std::ostream& out) const;

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace xvgpu::ctl
