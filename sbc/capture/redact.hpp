#pragma once
// Credentials out of captures. A capture of Digest answers is an offline dictionary attack on the
// users' passwords (username, realm, nonce, uri, cnonce and nc are in the clear next to the
// `response`), so the capture thread blanks them before a message reaches the disk.

#include <cstddef>
#include <string>

namespace sbc::capture {

// Redacts the credentials of a SIP message in place, keeping every length (the pcap's lengths,
// the message's Content-Length and its framing stay right, so `sbc replay` still reads it):
//  - the `response` of Digest credentials in Authorization and Proxy-Authorization becomes as many
//    '0's: still a well-formed digest, which simply does not authenticate;
//  - every parameter value of another scheme (Basic, anything unknown) likewise;
//  - from where such a header cannot be tokenized, every byte but white space.
// Header names are matched case-insensitively across folded lines; the scan stops at the empty
// line (the body is left alone). Returns how many values were redacted.
std::size_t redact_credentials(std::string& message) noexcept;

}  // namespace sbc::capture
