#pragma once
// TLS toward the core: the SBC is the client. TLS 1.2 and 1.3 only; the core's certificate is
// checked (chain and name) unless the configuration says otherwise.

#include "sbc/transport/inside_streams.hpp"
#include "tls/tls_settings.hpp"

namespace sbc::tls {

// Loads the CA and client certificate files once; throws std::runtime_error naming the file and
// the reason (start-up). The connector wraps each connected socket in a TLS client whose
// handshake the inside connection drives.
transport::TlsConnector make_tls_connector(const TlsClientSettings& settings);

}  // namespace sbc::tls
