// TLS settings and diagnostics for Transport (transport.h).
#include "transport.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <ctime>

namespace urbis::net {

namespace ssl = boost::asio::ssl;

namespace {

// The reason OpenSSL queued last ("no such file", "key values mismatch"),
// clearing its queue.
std::string openssl_reason(const boost::system::error_code& ec) {
  std::string reason = ec.message();
  unsigned long e = 0, last = 0;
  while ((e = ERR_get_error()) != 0) last = e;
  if (last != 0) {
    char text[256];
    ERR_error_string_n(last, text, sizeof text);
    reason = text;
  }
  return reason;
}

// TLS 1.2 at least, and for 1.2 only forward-secret AEAD suites (1.3's are all such).
void harden(ssl::context& context) {
  SSL_CTX_set_min_proto_version(context.native_handle(), TLS1_2_VERSION);
  SSL_CTX_set_cipher_list(context.native_handle(), "ECDHE+AESGCM:ECDHE+CHACHA20");
}

}  // namespace

Result<std::shared_ptr<ssl::context>> make_client_tls(const std::optional<std::string>& ca_file) {
  auto context = std::make_shared<ssl::context>(ssl::context::tls_client);
  harden(*context);
  context->set_verify_mode(ssl::verify_peer);
  boost::system::error_code ec;
  if (ca_file) {
    context->load_verify_file(*ca_file, ec);
    if (ec)
      return Status(Code::InvalidArgument,
                    "--ca-file: cannot read certificates from " + *ca_file + ": " + openssl_reason(ec));
  } else {
    context->set_default_verify_paths(ec);
    if (ec) return Status(Code::InvalidArgument, "cannot load the system's certificate store: " + openssl_reason(ec));
  }
  return context;
}

std::shared_ptr<ssl::context> load_server_tls(const std::string& cert_file, const std::string& key_file,
                                              std::string& error) {
  auto context = std::make_shared<ssl::context>(ssl::context::tls_server);
  harden(*context);
  context->set_options(ssl::context::default_workarounds | ssl::context::no_compression | ssl::context::single_dh_use);
  // An encrypted key would make OpenSSL ask for its passphrase on the
  // terminal, stalling the node: refused instead (an empty passphrase).
  context->set_password_callback([](std::size_t, ssl::context::password_purpose) { return std::string(); });
  boost::system::error_code ec;
  context->use_certificate_chain_file(cert_file, ec);
  if (ec) {
    error = "cannot read the certificate chain " + cert_file + ": " + openssl_reason(ec);
    return nullptr;
  }
  context->use_private_key_file(key_file, ssl::context::pem, ec);
  if (ec && ec.category() == boost::asio::error::get_ssl_category() &&
      ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == X509_R_KEY_VALUES_MISMATCH) {
    ERR_clear_error();
    error = "the private key " + key_file + " does not match the certificate " + cert_file;
    return nullptr;
  }
  if (ec) {
    error = "cannot read the private key " + key_file + " (a PEM key without a passphrase): " + openssl_reason(ec);
    return nullptr;
  }
  if (SSL_CTX_check_private_key(context->native_handle()) != 1) {
    error = "the private key " + key_file + " does not match the certificate " + cert_file;
    ERR_clear_error();
    return nullptr;
  }
  return context;
}

std::string expect_server_name(Transport::Tls& tls, const std::string& host) {
  SSL* ssl = tls.native_handle();
  boost::system::error_code ec;
  const auto address = boost::asio::ip::make_address(host, ec);
  if (!ec) {
    // An address: matched against the certificate's IP addresses; no SNI (RFC 6066).
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    if (X509_VERIFY_PARAM_set1_ip_asc(param, address.to_string().c_str()) != 1) return "bad address " + host;
    return {};
  }
  // The name must be among the certificate's DNS names (not its subject's
  // CN); a wildcard only as a whole label.
  SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS | X509_CHECK_FLAG_NEVER_CHECK_SUBJECT);
  if (SSL_set_tlsext_host_name(ssl, host.c_str()) != 1 || SSL_set1_host(ssl, host.c_str()) != 1) {
    ERR_clear_error();
    return "bad host name " + host;
  }
  return {};
}

std::string tls_failure(Transport::Tls& tls, const boost::system::error_code& ec) {
  const long verify = SSL_get_verify_result(tls.native_handle());
  if (verify != X509_V_OK) {
    ERR_clear_error();
    return std::string("certificate verify failed: ") + X509_verify_cert_error_string(verify);
  }
  if (ec == boost::beast::error::timeout) return "timed out";
  std::string reason = ec.message();
  ERR_clear_error();
  return reason;
}

std::string certificate_summary(ssl::context& context) {
  X509* cert = SSL_CTX_get0_certificate(context.native_handle());
  if (!cert) return "no certificate";
  std::string text;
  if (BIO* bio = BIO_new(BIO_s_mem())) {
    X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253);
    char* data = nullptr;
    const long size = BIO_get_mem_data(bio, &data);
    if (size > 0) text.assign(data, static_cast<size_t>(size));
    BIO_free(bio);
  }
  std::tm tm{};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) == 1) {
    char when[32];
    std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    text += ", expires ";
    text += when;
  }
  return text;
}

std::optional<int64_t> certificate_expiry(ssl::context& context) {
  X509* cert = SSL_CTX_get0_certificate(context.native_handle());
  std::tm tm{};
  if (!cert || ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) != 1) return std::nullopt;
  return static_cast<int64_t>(timegm(&tm));
}

}  // namespace urbis::net
