#include "sbc/transport/stream_session.hpp"

namespace sbc::transport {

void start_tcp_session(asio::ip::tcp::socket socket, Worker& worker, ConnectionTicket ticket,
                       const std::string& advertised_ip, std::uint16_t advertised_port) {
  boost::system::error_code ec;
  const auto local = socket.local_endpoint(ec);
  if (ec) return;
  const auto remote = socket.remote_endpoint(ec);
  if (ec) return;
  StreamSession<TcpIo>::Identity identity;
  identity.local_ip = advertised_ip.empty() ? address_text(local.address()) : advertised_ip;
  identity.advertised_port = advertised_port;
  identity.remote_ip = address_text(remote.address());
  std::make_shared<StreamSession<TcpIo>>(TcpIo(std::move(socket)), worker, Protocol::Tcp,
                                         std::move(identity), local.port(), remote.port(),
                                         std::move(ticket))
      ->start();
}

}  // namespace sbc::transport
