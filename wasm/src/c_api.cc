// The module's flat C ABI (urbis/wasm/c_api.h) over one process-wide Client.
// Exceptions stop here: anything thrown below (a JSON type error, an
// allocation failure) becomes an error response with a core code.
#include "urbis/wasm/c_api.h"

#include <cstdlib>
#include <cstring>
#include <exception>
#include <new>
#include <string>

#include <emscripten/emscripten.h>

#include "client.h"

namespace {

urbis::wasm::Client& client() {
  static urbis::wasm::Client instance(urbis::system_env());
  return instance;
}

char* to_c_string(const std::string& s) {
  char* out = static_cast<char*>(std::malloc(s.size() + 1));
  if (!out) return nullptr;
  std::memcpy(out, s.data(), s.size() + 1);
  return out;
}

nlohmann::json error_json(urbis::Code code, const std::string& message) {
  return {
      {"error",
       {{"code", static_cast<int>(code)}, {"codeName", std::string(urbis::code_name(code))}, {"message", message}}}};
}

std::string respond(const urbis::Result<nlohmann::json>& r) {
  if (r.is_ok()) return nlohmann::json{{"result", *r}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return error_json(r.code(), r.status().message()).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::vector<urbis::Bytes>* outbox(int box) {
  if (box == URBIS_OUTBOX_FRAMES) return &client().frame_outbox();
  if (box == URBIS_OUTBOX_LOG) return &client().log_outbox();
  if (box == URBIS_OUTBOX_JOIN) return &client().join_outbox();
  return nullptr;
}

}  // namespace

extern "C" {

EMSCRIPTEN_KEEPALIVE char* urbis_call(const char* request_json) {
  std::string out;
  try {
    auto req = nlohmann::json::parse(request_json ? request_json : "", nullptr, /*allow_exceptions=*/false);
    if (!req.is_object() || !req.contains("method") || !req["method"].is_string()) {
      out = error_json(urbis::Code::InvalidArgument, "request must be {\"method\": ..., \"params\": {...}}").dump();
    } else {
      const nlohmann::json params = req.value("params", nlohmann::json::object());
      out = respond(client().call(req["method"].get<std::string>(), params));
    }
  } catch (const std::bad_alloc&) {
    out = error_json(urbis::Code::Internal, "out of memory").dump();
  } catch (const nlohmann::json::exception& e) {
    out = error_json(urbis::Code::InvalidArgument, e.what()).dump();
  } catch (const std::exception& e) {
    out = error_json(urbis::Code::Internal, e.what()).dump();
  }
  return to_c_string(out);
}

EMSCRIPTEN_KEEPALIVE void urbis_free(void* p) { std::free(p); }

EMSCRIPTEN_KEEPALIVE int urbis_receive(const uint8_t* frame, size_t size) {
  try {
    urbis::Status s = client().receive({frame, size});
    return static_cast<int>(s.code());
  } catch (const std::exception&) {
    return static_cast<int>(urbis::Code::Internal);
  }
}

EMSCRIPTEN_KEEPALIVE int urbis_join_receive(const uint8_t* frame, size_t size) {
  try {
    return static_cast<int>(client().join_receive({frame, size}).code());
  } catch (const std::exception&) {
    return static_cast<int>(urbis::Code::Internal);
  }
}

EMSCRIPTEN_KEEPALIVE char* urbis_restore(const uint8_t* packed, size_t size) {
  std::string out;
  try {
    std::vector<urbis::Bytes> envelopes;
    size_t pos = 0;
    bool malformed = false;
    while (pos < size) {
      if (size - pos < 4) {
        malformed = true;
        break;
      }
      const uint32_t n = uint32_t(packed[pos]) | uint32_t(packed[pos + 1]) << 8 | uint32_t(packed[pos + 2]) << 16 |
                         uint32_t(packed[pos + 3]) << 24;
      pos += 4;
      if (n > size - pos) {
        malformed = true;
        break;
      }
      envelopes.emplace_back(packed + pos, packed + pos + n);
      pos += n;
    }
    if (malformed)
      out = error_json(urbis::Code::Malformed, "packed log entries are truncated").dump();
    else
      out = respond(client().restore(envelopes));
  } catch (const std::exception& e) {
    out = error_json(urbis::Code::Internal, e.what()).dump();
  }
  return to_c_string(out);
}

EMSCRIPTEN_KEEPALIVE uint32_t urbis_outbox_count(int box) {
  auto* b = outbox(box);
  return b ? static_cast<uint32_t>(b->size()) : 0;
}

EMSCRIPTEN_KEEPALIVE const uint8_t* urbis_outbox_data(int box, uint32_t index) {
  auto* b = outbox(box);
  return b && index < b->size() ? (*b)[index].data() : nullptr;
}

EMSCRIPTEN_KEEPALIVE uint32_t urbis_outbox_size(int box, uint32_t index) {
  auto* b = outbox(box);
  return b && index < b->size() ? static_cast<uint32_t>((*b)[index].size()) : 0;
}

EMSCRIPTEN_KEEPALIVE void urbis_outbox_clear(int box) {
  if (auto* b = outbox(box)) b->clear();
}

}  // extern "C"
