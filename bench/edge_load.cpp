// Load client for bench/edge_bench.sh: OPTIONS round trips over UDP and TLS, and idle TLS
// connections for the memory measurement. It speaks to any SIP server (ours or Kamailio), so
// both are measured by the same client in the same run.
//
//   edge_load udp  HOST PORT SECONDS WINDOW      OPTIONS over UDP, WINDOW requests in flight
//   edge_load tls  HOST PORT SECONDS WINDOW      OPTIONS pipelined on one TLS connection
//   edge_load idle HOST PORT COUNT               COUNT TLS connections, handshaken and idle;
//                                                prints "ready N", holds them until stdin closes
// Prints one line "rate N" (answers per second) or "ready N".

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

sockaddr_in address(const char* host, int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, host, &a.sin_addr) != 1) {
    std::cerr << "edge_load: IPv4 literal expected\n";
    std::exit(2);
  }
  return a;
}

std::string options(const char* transport, const std::string& host, unsigned long n) {
  const std::string id = std::to_string(n);
  return "OPTIONS sip:" + host + " SIP/2.0\r\nVia: SIP/2.0/" + transport +
         " 127.0.0.1:5999;rport;branch=z9hG4bK" + id + "\r\nMax-Forwards: 70\r\nFrom: <sip:load@" +
         host + ">;tag=" + id + "\r\nTo: <sip:" + host + ">\r\nCall-ID: " + id +
         "@load\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
}

int udp(const char* host, int port, int seconds, int window) {
  const sockaddr_in to = address(host, port);
  const int fd = socket(AF_INET, SOCK_DGRAM, 0);
  connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof to);
  unsigned long sent = 0, answered = 0;
  auto send_one = [&] {
    const std::string m = options("UDP", host, sent++);
    send(fd, m.data(), m.size(), 0);
  };
  for (int i = 0; i < window; ++i) send_one();
  const auto start = Clock::now();
  const auto end = start + std::chrono::seconds(seconds);
  char buffer[4096];
  while (Clock::now() < end) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 100) != 1) {
      for (int i = 0; i < window; ++i) send_one();  // lost datagrams: refill the window
      continue;
    }
    if (recv(fd, buffer, sizeof buffer, 0) > 0) {
      ++answered;
      send_one();
    }
  }
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  std::cout << "rate " << static_cast<long>(static_cast<double>(answered) / elapsed) << std::endl;
  return answered > 0 ? 0 : 1;
}

SSL* tls_connect(SSL_CTX* ctx, const sockaddr_in& to) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0 || connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof to) != 0) {
    if (fd >= 0) close(fd);
    return nullptr;
  }
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  SSL* ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd);
  if (SSL_connect(ssl) != 1) {
    SSL_free(ssl);
    close(fd);
    return nullptr;
  }
  return ssl;
}

SSL_CTX* client_context() {
  SSL_CTX* ctx = SSL_CTX_new(TLS_method());
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);  // benchmark against test certificates
  return ctx;
}

int tls(const char* host, int port, int seconds, int window) {
  SSL_CTX* ctx = client_context();
  SSL* ssl = tls_connect(ctx, address(host, port));
  if (ssl == nullptr) {
    std::cerr << "edge_load: TLS connect failed\n";
    return 1;
  }
  unsigned long sent = 0, answered = 0;
  auto send_one = [&] {
    const std::string m = options("TLS", host, sent++);
    SSL_write(ssl, m.data(), static_cast<int>(m.size()));
  };
  for (int i = 0; i < window; ++i) send_one();
  const auto start = Clock::now();
  const auto end = start + std::chrono::seconds(seconds);
  std::string pending;
  char buffer[16384];
  while (Clock::now() < end) {
    const int n = SSL_read(ssl, buffer, sizeof buffer);
    if (n <= 0) break;
    pending.append(buffer, static_cast<std::size_t>(n));
    // Every answer here ends with "Content-Length: 0" and the empty line.
    std::size_t at;
    while ((at = pending.find("\r\n\r\n")) != std::string::npos) {
      pending.erase(0, at + 4);
      ++answered;
      send_one();
    }
  }
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  std::cout << "rate " << static_cast<long>(static_cast<double>(answered) / elapsed) << std::endl;
  return answered > 0 ? 0 : 1;
}

int idle(const char* host, int port, int count) {
  rlimit files{};
  getrlimit(RLIMIT_NOFILE, &files);
  files.rlim_cur = files.rlim_max;
  setrlimit(RLIMIT_NOFILE, &files);
  SSL_CTX* ctx = client_context();
  const sockaddr_in to = address(host, port);
  std::vector<SSL*> connections;
  for (int i = 0; i < count; ++i)
    if (SSL* ssl = tls_connect(ctx, to)) connections.push_back(ssl);
  std::cout << "ready " << connections.size() << std::endl;
  char c;
  while (read(0, &c, 1) > 0) {
  }
  for (SSL* ssl : connections) {
    close(SSL_get_fd(ssl));
    SSL_free(ssl);
  }
  return connections.size() == static_cast<std::size_t>(count) ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if ((mode == "udp" || mode == "tls") && argc == 6) {
    const int port = std::atoi(argv[3]), seconds = std::atoi(argv[4]), window = std::atoi(argv[5]);
    return mode == "udp" ? udp(argv[2], port, seconds, window)
                         : tls(argv[2], port, seconds, window);
  }
  if (mode == "idle" && argc == 5) return idle(argv[2], std::atoi(argv[3]), std::atoi(argv[4]));
  std::cerr << "usage: edge_load udp|tls HOST PORT SECONDS WINDOW | idle HOST PORT COUNT\n";
  return 2;
}
