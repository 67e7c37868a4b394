#include "sbc/transport/stream_session.hpp"

namespace sbc::transport {

void start_tcp_session(asio::ip::tcp::socket socket, Worker& worker, ConnectionTicket ticket) {
  boost::system::error_code ec;
  const auto local = socket.local_endpoint(ec);
  if (ec) return;
  const auto remote = socket.remote_endpoint(ec);
  if (ec) return;
  StreamSession<TcpIo>::Identity identity;
  identity.local_ip = address_text(local.address());
  identity.remote_ip = address_text(remote.address());
  std::make_shared<StreamSession<TcpIo>>(TcpIo(std::move(socket)), worker, Protocol::Tcp,
                                         std::move(identity), local.port(), remote.port(),
                                         std::move(ticket))
      ->start();
}

}  // namespace sbc::transport
