// TLS between offices (issue 15): a node listening with a certificate from a
// CA the test makes (openssl), a regional node linked to it over wss://,
// devices syncing over wss:// with --ca-file; what TLS must refuse (an
// unknown CA, a certificate for another name, cleartext on the TLS port, a
// key that does not match); the certificate replaced on SIGHUP, a broken
// one refused while the old one stays. Real processes on 127.0.0.1.
// (X-Forwarded-For through a proxy: webapp.proxy, with nginx.)
#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "node_util.h"

using namespace urbis::testing;

namespace {

// Runs openssl with `args` (a shell command line's words after "openssl");
// its output goes to `dir`/openssl.log.
void openssl(const fs::path& dir, const std::string& args) {
  const std::string command = "openssl " + args + " >>" + (dir / "openssl.log").string() + " 2>&1";
  INFO(command);
  REQUIRE(std::system(command.c_str()) == 0);
}

// A certificate authority in `dir`: NAME.pem and NAME.key.
fs::path make_ca(const fs::path& dir, const std::string& name) {
  openssl(dir, "req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj '/CN=" + name +
                   "' -keyout " + (dir / (name + ".key")).string() + " -out " + (dir / (name + ".pem")).string() +
                   " -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign");
  return dir / (name + ".pem");
}

// A server certificate NAME.pem (key NAME.key) signed by CA for the
// subjectAltName `san` ("IP:127.0.0.1,DNS:localhost").
void make_cert(const fs::path& dir, const std::string& ca, const std::string& name, const std::string& san) {
  const std::string base = (dir / name).string();
  openssl(dir, "req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj '/CN=" + name + "' -keyout " + base +
                   ".key -out " + base + ".csr -addext subjectAltName=" + san);
  openssl(dir, "x509 -req -in " + base + ".csr -CA " + (dir / (ca + ".pem")).string() + " -CAkey " +
                   (dir / (ca + ".key")).string() + " -CAcreateserial -days 2 -copy_extensions copy -out " + base +
                   ".pem");
}

// GET `path` over HTTPS from 127.0.0.1:port, verified against `ca`
// (openssl s_client); the whole answer, headers included.
std::string https_get(int port, const fs::path& ca, const std::string& path) {
  const std::string command = "printf 'GET " + path + " HTTP/1.0\\r\\n\\r\\n' | timeout 10 openssl s_client -quiet " +
                              "-verify_return_error -verify_ip 127.0.0.1 -CAfile " + ca.string() +
                              " -connect 127.0.0.1:" + std::to_string(port) + " 2>/dev/null";
  std::string out;
  if (FILE* p = popen(command.c_str(), "r")) {
    char buffer[4096];
    for (size_t n; (n = fread(buffer, 1, sizeof buffer, p)) > 0;) out.append(buffer, n);
    pclose(p);
  }
  return out;
}

void copy_over(const fs::path& from, const fs::path& to) {
  fs::copy_file(from, to, fs::copy_options::overwrite_existing);
}

}  // namespace

TEST_CASE("tls_link") {
  TempDir pki("urbis-pki");
  const fs::path dir = pki.path();
  const fs::path ca1 = make_ca(dir, "ca1"), ca2 = make_ca(dir, "ca2");
  make_cert(dir, "ca1", "secretariat1", "IP:127.0.0.1,DNS:localhost");
  make_cert(dir, "ca2", "secretariat2", "IP:127.0.0.1,DNS:localhost");
  make_cert(dir, "ca2", "elsewhere", "DNS:elsewhere.example");
  // The files the node is configured with; replaced in place before a SIGHUP.
  const fs::path cert = dir / "node.pem", key = dir / "node.key";
  copy_over(dir / "secretariat1.pem", cert);
  copy_over(dir / "secretariat1.key", key);

  Home secretariat_home, regional_home;
  const std::string regional_key = regional_home.ok({"node", "key"})["node"].get<std::string>();
  Node secretariat(secretariat_home.home(),
                   {"--trust-peer", regional_key, "--tls-cert", cert.string(), "--tls-key", key.string()});
  const std::string port = std::to_string(secretariat.port());
  const std::string wss = "wss://127.0.0.1:" + port + "/sync";
  Node regional(regional_home.home(), {"--peer", wss, "--ca-file", ca1.string(), "--peer-retry-max", "1"});

  Home a, b, c;
  a.init();
  const std::string device_b = b.init(), device_c = c.init();
  const std::string space = a.ok({"space", "create", "Over TLS"})["space"].get<std::string>();
  a.ok({"space", "add-member", space, device_b, "--role", "viewer"});
  a.ok({"space", "add-member", space, device_c, "--role", "viewer"});
  for (int i = 0; i < 20; ++i) a.ok({"put", space, "task", "new", "n=" + std::to_string(i)});

  // A writes to the regional node in the clear on its LAN; the regional
  // node passes it on to the secretariat over TLS; B reads it there over TLS.
  CHECK(a.ok({"sync", regional.url()})["sent"].get<int>() >= 20);
  auto tasks_via = [&](Home& who, const std::string& url, const std::string& ca) {
    if (who.run({"sync", url, "--space", space, "--ca-file", ca}).code != 0) return -1;
    Run r = who.run({"find", space, "--type", "task", "--limit", "100"});
    return r.code == 0 ? r.parsed()["total"].get<int>() : -1;
  };
  CHECK(eventually([&] { return tasks_via(b, wss, ca1.string()) == 20; }));
  CHECK(a.ok({"state-hash", space})["state_hash"] == b.ok({"state-hash", space})["state_hash"]);
  CHECK(regional.log().find("\"event\":\"peer_live\"") != std::string::npos);
  CHECK(secretariat.log().find("\"tls\":true") != std::string::npos);
  // By name too (SNI and the certificate's DNS name).
  CHECK(c.ok({"sync", "wss://localhost:" + port + "/sync", "--ca-file", ca1.string()})["received"].get<int>() > 0);

  // Refused: a CA the client does not trust (the system's store knows
  // nothing of the test's CA), cleartext on the TLS port, a CA file that
  // does not exist.
  Run unknown = c.run({"sync", wss});
  CHECK(unknown.code == 1);
  CHECK(unknown.err.find("TLS handshake with " + wss + " failed: certificate verify failed") != std::string::npos);
  Run wrong_ca = c.run({"sync", wss, "--ca-file", ca2.string()});
  CHECK(wrong_ca.code == 1);
  CHECK(wrong_ca.err.find("certificate verify failed") != std::string::npos);
  Run cleartext = c.run({"sync", secretariat.url()});
  CHECK(cleartext.code == 1);
  CHECK(cleartext.err.find("WebSocket handshake with " + secretariat.url() + " failed") != std::string::npos);
  INFO(cleartext.err);
  CHECK(cleartext.err.find("if the node listens with TLS, use wss://") != std::string::npos);
  {  // Cleartext HTTP gets no HTTP answer (the bytes are not a TLS hello).
    const int fd = connect_local(secretariat.port());
    send_all(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    const std::string answer = recv_until_eof(fd);
    close(fd);
    CHECK(answer.find("HTTP/1.1") == std::string::npos);
  }
  Run plain_ca = c.run({"sync", secretariat.url(), "--ca-file", ca1.string()});
  CHECK(plain_ca.code == 2);
  CHECK(plain_ca.err.find("--ca-file is for wss:// URLs") != std::string::npos);
  // HTTPS on the same port: /readyz, and the TLS metrics (the cleartext
  // attempts above counted as failed handshakes).
  CHECK(https_get(secretariat.port(), ca1, "/readyz").find("\r\n\r\nready\n") != std::string::npos);
  const std::string metrics = https_get(secretariat.port(), ca1, "/metrics");
  CHECK(metrics.find("\nurbis_tls_certificate_expiry_seconds 1") != std::string::npos);
  CHECK(metrics.find("\nurbis_tls_handshakes_failed_total 0\n") == std::string::npos);
  CHECK(metrics.find("\nurbis_tls_handshakes_failed_total ") != std::string::npos);
  Run missing = c.run({"sync", wss, "--ca-file", (dir / "nowhere.pem").string()});
  CHECK(missing.code == 2);
  CHECK(missing.err.find("--ca-file: cannot read certificates from") != std::string::npos);

  // SIGHUP: a new certificate (another CA) for new connections.
  auto reload = [&](const std::string& name, const char* event, size_t seen) {
    copy_over(dir / (name + ".pem"), cert);
    copy_over(dir / (name + ".key"), key);
    REQUIRE(kill(secretariat.pid(), SIGHUP) == 0);
    auto count = [&] {
      size_t n = 0;
      const std::string log = secretariat.log(), needle = std::string("\"event\":\"") + event + "\"";
      for (auto at = log.find(needle); at != std::string::npos; at = log.find(needle, at + 1)) ++n;
      return n;
    };
    return eventually([&] { return count() > seen; }, std::chrono::seconds(10));
  };
  REQUIRE(reload("secretariat2", "tls_reloaded", 0));
  Run old_ca = c.run({"sync", wss, "--ca-file", ca1.string()});
  CHECK(old_ca.code == 1);
  CHECK(old_ca.err.find("certificate verify failed") != std::string::npos);
  CHECK(c.run({"sync", wss, "--ca-file", ca2.string()}).code == 0);
  CHECK(secretariat.log().find("\"certificate\":\"CN=secretariat2, expires ") != std::string::npos);
  // A certificate for another name, from a trusted CA: refused by name.
  REQUIRE(reload("elsewhere", "tls_reloaded", 1));
  Run other_name = c.run({"sync", wss, "--ca-file", ca2.string()});
  CHECK(other_name.code == 1);
  CHECK(other_name.err.find("certificate verify failed: IP address mismatch") != std::string::npos);
  Run other_dns = c.run({"sync", "wss://localhost:" + port + "/sync", "--ca-file", ca2.string()});
  CHECK(other_dns.code == 1);
  CHECK(other_dns.err.find("certificate verify failed: hostname mismatch") != std::string::npos);
  // A broken file: the reload fails, and the previous certificate stays.
  REQUIRE(reload("secretariat2", "tls_reloaded", 2));
  { std::ofstream(key, std::ios::trunc) << "not a key\n"; }
  REQUIRE(kill(secretariat.pid(), SIGHUP) == 0);
  CHECK(eventually([&] { return secretariat.log().find("\"event\":\"tls_reload_failed\"") != std::string::npos; },
                   std::chrono::seconds(10)));
  CHECK(c.run({"sync", wss, "--ca-file", ca2.string()}).code == 0);

  // The link made with the first certificate goes on: a new task reaches B.
  a.ok({"put", space, "task", "new", "n=after the reloads"});
  CHECK(a.ok({"sync", regional.url()})["sent"] == 1);
  CHECK(eventually([&] { return tasks_via(b, wss, ca2.string()) == 21; }));

  CHECK(regional.stop(SIGTERM) == 0);
  CHECK(secretariat.stop(SIGTERM) == 0);
  // Both closed their TLS sessions in time (none had to be cut).
  CHECK(regional.log().find("stop_forced") == std::string::npos);
  CHECK(secretariat.log().find("stop_forced") == std::string::npos);

  // Startup errors name the file and stop the node with a usage error.
  Home bad;
  Run mismatched = bad.run({"node", "--listen", "127.0.0.1:0", "--tls-cert", (dir / "secretariat1.pem").string(),
                            "--tls-key", (dir / "secretariat2.key").string()});
  CHECK(mismatched.code == 2);
  CHECK(mismatched.err.find("does not match the certificate") != std::string::npos);
  Run half = bad.run({"node", "--listen", "127.0.0.1:0", "--tls-cert", (dir / "secretariat1.pem").string()});
  CHECK(half.code == 2);
  CHECK(half.err.find("--tls-cert and --tls-key go together") != std::string::npos);
  // An encrypted key is refused, not asked for on the terminal.
  openssl(dir, "pkey -in " + (dir / "secretariat1.key").string() + " -aes256 -passout pass:secret -out " +
                   (dir / "encrypted.key").string());
  Run encrypted = bad.run({"node", "--listen", "127.0.0.1:0", "--tls-cert", (dir / "secretariat1.pem").string(),
                           "--tls-key", (dir / "encrypted.key").string()});
  CHECK(encrypted.code == 2);
  CHECK(encrypted.err.find("a PEM key without a passphrase") != std::string::npos);
}
