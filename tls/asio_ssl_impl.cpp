// Boost.Asio's SSL layer compiled once, against BoringSSL (BOOST_ASIO_SEPARATE_COMPILATION).
#include <boost/asio/ssl/impl/src.hpp>
