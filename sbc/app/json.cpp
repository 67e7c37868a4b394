// Boost.JSON, compiled once for the whole program (header-only mode: no libboost_json).
#include <boost/json/src.hpp>
