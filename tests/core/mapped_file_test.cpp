// A mapped data file that changes under a run: cut short, a read past its new end is one line and
// exit 2 instead of a crash; rewritten in place, it is named afterwards; replaced by a rename or
// removed, the mapping keeps the old file whole and nothing is said.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "core/mapped_file.h"
#include "test_util.h"

namespace advtk {
namespace {

using test::TempDir;

void write_bytes(const std::string& path, size_t size, char value) {
  std::ofstream(path, std::ios::binary) << std::string(size, value);
}

bool named(const std::string& path) {
  const auto changed = mapped_files_changed();
  return std::find(changed.begin(), changed.end(), path) != changed.end();
}

TEST(MappedFile, AFileCutShortDuringARunIsOneLineAndExitTwoNotACrash) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  TempDir dir;
  const std::string path = dir.file("images.npy");
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  write_bytes(path, 4 * page, 'x');
  EXPECT_EXIT(
      {
        const MappedFile file = map_file(path);
        if (file.data == nullptr) std::_Exit(3);
        if (::truncate(path.c_str(), 0) != 0) std::_Exit(4);
        volatile char c = file.data.get()[3 * page];  // past the new end: SIGBUS
        (void)c;
        std::_Exit(5);
      },
      ::testing::ExitedWithCode(2),
      "error: .*images.npy: the file was cut short while advtk read it \\(a data file must not "
      "be rewritten in place during a run");
}

TEST(MappedFile, AFileRewrittenInPlaceIsNamedOneRenamedOverOrRemovedIsNot) {
  TempDir dir;
  const std::string in_place = dir.file("in_place.npy"), renamed = dir.file("renamed.npy"),
                    removed = dir.file("removed.npy"), touched = dir.file("touched.npy");
  for (const auto& p : {in_place, renamed, removed, touched}) write_bytes(p, 100, 'a');
  {
    const MappedFile a = map_file(in_place), b = map_file(renamed), c = map_file(removed);
    const MappedFile d = map_file(touched);
    ASSERT_TRUE(a.data && b.data && c.data && d.data);
    EXPECT_TRUE(mapped_files_changed().empty());

    std::ofstream(in_place, std::ios::binary | std::ios::app) << "more";  // another size
    write_bytes(dir.file("new.npy"), 100, 'b');
    std::filesystem::rename(dir.file("new.npy"), renamed);
    std::filesystem::remove(removed);
    // The same size, another modification time (as a rewrite of the same length leaves it).
    struct stat st {};
    ASSERT_EQ(::stat(touched.c_str(), &st), 0);
    const timespec times[2] = {st.st_atim, {st.st_mtim.tv_sec + 1, st.st_mtim.tv_nsec}};
    ASSERT_EQ(::utimensat(AT_FDCWD, touched.c_str(), times, 0), 0);

    EXPECT_TRUE(named(in_place));  // while still mapped
    EXPECT_TRUE(named(touched));
    EXPECT_FALSE(named(renamed));
    EXPECT_FALSE(named(removed));
    EXPECT_EQ(b.bytes(), std::string(100, 'a'));  // the mapping kept the old file
  }
  EXPECT_TRUE(named(in_place));  // and after the mappings went
  EXPECT_TRUE(named(touched));
  EXPECT_FALSE(named(renamed));
  // A file mapped after a change is compared with what it is then.
  const MappedFile again = map_file(renamed);
  EXPECT_FALSE(named(renamed));
}

}  // namespace
}  // namespace advtk
