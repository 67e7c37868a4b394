// A small client for integration tests, on plain POSIX sockets so that it shares nothing with
// the code under test.
//
//   sip_probe udp  HOST PORT FILE [TIMEOUT_MS]   send FILE as one datagram, print the status line
//                                                (from SIP_PROBE_LOCAL_PORT and
//                                                SIP_PROBE_LOCAL_ADDRESS when they are set)
//   sip_probe tcp  HOST PORT FILE [TIMEOUT_MS]   send FILE on a connection, print the status line
//                                                of the answer, then "closed" if the server
//                                                closed the connection afterwards
//   sip_probe idle HOST PORT COUNT SECONDS       open COUNT connections that send nothing, hold
//                                                them SECONDS, print "open N" then "alive N"
//   sip_probe slow HOST PORT INTERVAL_MS         send an OPTIONS one byte per interval, print
//                                                "closed after MS" when the server hangs up
// Exit status: 0 when it got what it waited for, 1 otherwise.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

sockaddr_storage address(const char* host, const char* port, socklen_t& length) {
  sockaddr_storage storage{};
  const auto port_number = static_cast<uint16_t>(std::atoi(port));
  auto* v4 = reinterpret_cast<sockaddr_in*>(&storage);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage);
  if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port_number);
    length = sizeof(sockaddr_in);
  } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port_number);
    length = sizeof(sockaddr_in6);
  } else {
    std::cerr << "sip_probe: not an IP address: " << host << '\n';
    std::exit(2);
  }
  return storage;
}

std::string read_file(const char* path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::cerr << "sip_probe: cannot read " << path << '\n';
    std::exit(2);
  }
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

bool wait_readable(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, timeout_ms) == 1;
}

std::string first_line(const std::string& s) {
  return s.substr(0, s.find("\r\n"));
}

int connect_tcp(const char* host, const char* port) {
  socklen_t length = 0;
  const sockaddr_storage to = address(host, port, length);
  const int fd = socket(to.ss_family, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  if (connect(fd, reinterpret_cast<const sockaddr*>(&to), length) != 0) {
    close(fd);
    return -1;
  }
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

int udp(const char* host, const char* port, const char* file, int timeout_ms) {
  socklen_t length = 0;
  const sockaddr_storage to = address(host, port, length);
  const int fd = socket(to.ss_family, SOCK_DGRAM, 0);
  // SIP_PROBE_LOCAL_PORT: send from a fixed port, as a UDP client retransmitting does;
  // SIP_PROBE_LOCAL_ADDRESS: from that address (another source on loopback).
  const char* local_port = std::getenv("SIP_PROBE_LOCAL_PORT");
  const char* local_address = std::getenv("SIP_PROBE_LOCAL_ADDRESS");
  if (local_port != nullptr || local_address != nullptr) {
    const int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    socklen_t local_length = 0;
    const char* bind_host =
        local_address != nullptr ? local_address : (to.ss_family == AF_INET6 ? "::1" : "127.0.0.1");
    const sockaddr_storage from =
        address(bind_host, local_port != nullptr ? local_port : "0", local_length);
    bind(fd, reinterpret_cast<const sockaddr*>(&from), local_length);
  }
  const std::string payload = read_file(file);
  sendto(fd, payload.data(), payload.size(), 0, reinterpret_cast<const sockaddr*>(&to), length);
  if (!wait_readable(fd, timeout_ms)) {
    std::cout << "timeout\n";
    return 1;
  }
  char buffer[65536];
  const ssize_t n = recv(fd, buffer, sizeof buffer, 0);
  std::cout << first_line(std::string(buffer, n > 0 ? static_cast<std::size_t>(n) : 0)) << '\n';
  return 0;
}

int tcp(const char* host, const char* port, const char* file, int timeout_ms) {
  const int fd = connect_tcp(host, port);
  if (fd < 0) {
    std::cout << "connect failed\n";
    return 1;
  }
  const std::string payload = read_file(file);
  if (send(fd, payload.data(), payload.size(), MSG_NOSIGNAL) < 0) {
    std::cout << "send failed\n";
    return 1;
  }
  std::string received;
  char buffer[4096];
  bool closed = false;
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  while (Clock::now() < deadline) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (!wait_readable(fd, static_cast<int>(left.count()))) break;
    const ssize_t n = recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) {
      closed = true;
      break;
    }
    received.append(buffer, static_cast<std::size_t>(n));
    // One answer is enough, unless the server is about to close: give it a moment.
    if (received.find("\r\n\r\n") != std::string::npos && !wait_readable(fd, 300)) break;
  }
  if (received.empty()) {
    std::cout << (closed ? "closed" : "timeout") << '\n';
    return 1;
  }
  std::cout << first_line(received) << '\n';
  if (closed) std::cout << "closed\n";
  return 0;
}

int idle(const char* host, const char* port, int count, int seconds) {
  rlimit files{};
  getrlimit(RLIMIT_NOFILE, &files);
  files.rlim_cur = files.rlim_max;
  setrlimit(RLIMIT_NOFILE, &files);
  std::vector<int> fds;
  for (int i = 0; i < count; ++i) {
    const int fd = connect_tcp(host, port);
    if (fd >= 0) fds.push_back(fd);
  }
  std::cout << "open " << fds.size() << std::endl;
  std::this_thread::sleep_for(std::chrono::seconds(seconds));
  int alive = 0;
  for (int fd : fds) {
    char c;
    const ssize_t n = recv(fd, &c, 1, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) ++alive;
    close(fd);
  }
  std::cout << "alive " << alive << std::endl;
  return fds.size() == static_cast<std::size_t>(count) ? 0 : 1;
}

int slow(const char* host, const char* port, int interval_ms) {
  const int fd = connect_tcp(host, port);
  if (fd < 0) return 1;
  const std::string message =
      "OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1;branch=z9hG4bKslow\r\n"
      "Max-Forwards: 70\r\nFrom: <sip:slow@127.0.0.1>;tag=1\r\nTo: <sip:127.0.0.1>\r\n"
      "Call-ID: slow@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
  const auto start = Clock::now();
  for (char c : message) {
    if (send(fd, &c, 1, MSG_NOSIGNAL) != 1 || wait_readable(fd, interval_ms)) {
      char probe;
      if (recv(fd, &probe, 1, MSG_DONTWAIT) <= 0) {
        const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
        std::cout << "closed after " << ms.count() << '\n';
        return 0;
      }
    }
  }
  std::cout << "completed\n";
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "udp" && argc >= 5)
    return udp(argv[2], argv[3], argv[4], argc > 5 ? std::atoi(argv[5]) : 2000);
  if (mode == "tcp" && argc >= 5)
    return tcp(argv[2], argv[3], argv[4], argc > 5 ? std::atoi(argv[5]) : 2000);
  if (mode == "idle" && argc == 6)
    return idle(argv[2], argv[3], std::atoi(argv[4]), std::atoi(argv[5]));
  if (mode == "slow" && argc == 5) return slow(argv[2], argv[3], std::atoi(argv[4]));
  std::cerr << "usage: sip_probe udp|tcp HOST PORT FILE [TIMEOUT_MS] | idle HOST PORT COUNT SECONDS"
               " | slow HOST PORT INTERVAL_MS\n";
  return 2;
}
