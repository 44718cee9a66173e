#include "shmray/version.hpp"

namespace shmray {

// The version this library was built as; the headers a program compiled against may be older.
const char* version() noexcept { return SHMRAY_VERSION_STRING; }

}  // namespace shmray
