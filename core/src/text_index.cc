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
  return (cp >= 0x1100 && cp <= 0x11FF) ||  // Hangul Jamo
         (cp >= 0x3040 && cp <= 0x30FF) ||  // Hiragana, Katakana
         (cp >= 0x3130 && cp <= 0x318F) ||  // Hangul compatibility Jamo
         (cp >= 0x3400 && cp <= 0x4DBF) ||  // CJK extension A
         (cp >= 0x4E00 && cp <= 0x9FFF) ||  // CJK unified ideographs
         (cp >= 0xAC00 && cp <= 0xD7AF) ||  // Hangul syllables
         (cp >= 0xF900 && cp <= 0xFAFF) ||  // CJK compatibility ideographs
         (cp >= 0x20000 && cp <= 0x2FFFF);  // CJK extensions B..
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

namespace {

// Whether code point `cp` separates tokens for the unicode61 tokenizer:
// ASCII other than letters and digits, and the punctuation and symbol blocks
// people type or paste (dashes, quotes, arrows, CJK and Arabic punctuation,
// full-width forms). A word made only of these is no word: quoted alone it
// becomes an empty phrase, which matches nothing ("smart — bus" found nothing).
bool separates_tokens(uint32_t cp) {
  if (cp < 0x80) return !std::isalnum(static_cast<unsigned char>(cp));
  if (cp <= 0xBF)
    return cp != 0xAA && cp != 0xB2 && cp != 0xB3 && cp != 0xB5 && cp != 0xB9 && cp != 0xBA && cp != 0xBC &&
           cp != 0xBD && cp != 0xBE;
  if (cp == 0xD7 || cp == 0xF7) return true;
  if (cp == 0x060C || cp == 0x061B || cp == 0x061F || (cp >= 0x066A && cp <= 0x066D) || cp == 0x06D4) return true;
  if (cp >= 0x2000 && cp <= 0x206F) return true;  // general punctuation: dashes, quotes, bullets
  if ((cp >= 0x2190 && cp <= 0x245F) || (cp >= 0x2500 && cp <= 0x2BFF)) return true;  // arrows, math, shapes
  if ((cp >= 0x3000 && cp <= 0x3004) || (cp >= 0x3008 && cp <= 0x3020) || cp == 0x3030) return true;
  if (cp >= 0xFE10 && cp <= 0xFE6F) return true;  // vertical and small forms
  if ((cp >= 0xFF01 && cp <= 0xFF0F) || (cp >= 0xFF1A && cp <= 0xFF20) || (cp >= 0xFF3B && cp <= 0xFF40) ||
      (cp >= 0xFF5B && cp <= 0xFF65))
    return true;  // full-width punctuation
  return false;
}

// Whether `word` (UTF-8) holds at least one token character.
bool has_token_char(std::string_view word) {
  for (size_t i = 0; i < word.size();) {
    const auto b = static_cast<unsigned char>(word[i]);
    const size_t len = b < 0x80 ? 1 : b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1;
    uint32_t cp = len == 1 ? b : b & (0x7F >> len);
    for (size_t k = 1; k < len && i + k < word.size(); ++k)
      cp = (cp << 6) | (static_cast<unsigned char>(word[i + k]) & 0x3F);
    if (!separates_tokens(cp)) return true;
    i += len;
  }
  return false;
}

}  // namespace

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
    if (!has_token_char(word)) continue;
    std::string quoted = "\"";
    for (char c : word) {
      if (c == '"') quoted += '"';
      quoted += c;
    }
    quoted += '"';
    phrases.push_back(std::move(quoted));
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
