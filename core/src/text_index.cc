#include "text_index.h"

#include <cctype>
#include <cstdint>
#include <vector>

namespace urbis {
namespace {

// Decodes one UTF-8 code point at s[i], advancing i; invalid bytes decode
// as U+FFFD one byte at a time.
uint32_t next_code_point(std::string_view s, size_t& i) {
  auto c = static_cast<uint8_t>(s[i]);
  int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
  if (len == 0 || i + len > s.size()) {
    ++i;
    return 0xFFFD;
  }
  uint32_t cp = len == 1 ? c : c & (0x7F >> len);
  for (int k = 1; k < len; ++k) {
    auto cc = static_cast<uint8_t>(s[i + k]);
    if ((cc & 0xC0) != 0x80) {
      ++i;
      return 0xFFFD;
    }
    cp = cp << 6 | (cc & 0x3F);
  }
  i += len;
  return cp;
}

bool is_cjk(uint32_t cp) {
  return (cp >= 0x1100 && cp <= 0x11FF) ||    // Hangul Jamo
         (cp >= 0x3040 && cp <= 0x30FF) ||    // Hiragana, Katakana
         (cp >= 0x3130 && cp <= 0x318F) ||    // Hangul compatibility Jamo
         (cp >= 0x3400 && cp <= 0x4DBF) ||    // CJK extension A
         (cp >= 0x4E00 && cp <= 0x9FFF) ||    // CJK unified ideographs
         (cp >= 0xAC00 && cp <= 0xD7AF) ||    // Hangul syllables
         (cp >= 0xF900 && cp <= 0xFAFF) ||    // CJK compatibility ideographs
         (cp >= 0x20000 && cp <= 0x2FFFF);    // CJK extensions B..
}

// Splits `text` into pieces: each is either a run of CJK characters (as
// UTF-8 substrings, one per character) or a plain stretch of other text.
struct Piece {
  bool cjk;
  std::vector<std::string_view> chars;  // cjk runs
  std::string_view plain;               // other text
};

std::vector<Piece> split(std::string_view text) {
  std::vector<Piece> out;
  size_t i = 0;
  while (i < text.size()) {
    size_t start = i;
    uint32_t cp = next_code_point(text, i);
    bool cjk = is_cjk(cp);
    if (out.empty() || out.back().cjk != cjk) out.push_back({cjk, {}, {}});
    Piece& p = out.back();
    if (cjk) {
      p.chars.push_back(text.substr(start, i - start));
    } else {
      size_t begin = p.plain.empty() ? start : size_t(p.plain.data() - text.data());
      p.plain = text.substr(begin, i - begin);
    }
  }
  return out;
}

// "abcd" (as CJK chars) -> "ab bc cd"; a single char stays itself.
void append_bigrams(const std::vector<std::string_view>& chars, std::string& out) {
  if (chars.size() == 1) {
    out += chars[0];
    return;
  }
  for (size_t k = 0; k + 1 < chars.size(); ++k) {
    if (k) out += ' ';
    out += chars[k];
    out += chars[k + 1];
  }
}

}  // namespace

std::string fts_index_text(std::string_view text) {
  std::string out;
  out.reserve(text.size() * 2);
  for (const Piece& p : split(text)) {
    if (!out.empty()) out += ' ';
    if (p.cjk)
      append_bigrams(p.chars, out);
    else
      out += p.plain;
  }
  return out;
}

std::string fts_match_query(std::string_view typed) {
  // Words are separated by whitespace; each word becomes one quoted FTS5
  // phrase (so punctuation and operators typed by a person stay literal).
  std::vector<std::string> phrases;
  size_t i = 0;
  while (i < typed.size()) {
    while (i < typed.size() && (typed[i] == ' ' || typed[i] == '\t' || typed[i] == '\n')) ++i;
    size_t start = i;
    while (i < typed.size() && !(typed[i] == ' ' || typed[i] == '\t' || typed[i] == '\n')) ++i;
    if (i == start) break;
    std::string word = fts_index_text(typed.substr(start, i - start));
    std::string quoted = "\"";
    bool has_token_char = false;
    for (char c : word) {
      if (c == '"') quoted += '"';
      quoted += c;
      if (static_cast<unsigned char>(c) >= 0x80 || std::isalnum(static_cast<unsigned char>(c)))
        has_token_char = true;
    }
    quoted += '"';
    if (has_token_char) phrases.push_back(std::move(quoted));
  }
  std::string out;
  for (size_t k = 0; k < phrases.size(); ++k) {
    if (k) out += " AND ";
    out += phrases[k];
  }
  if (!out.empty()) out += '*';
  return out;
}

}  // namespace urbis
