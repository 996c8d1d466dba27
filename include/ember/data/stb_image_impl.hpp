// ember/data/stb_image_impl.hpp - stb_image compiled privately into ember (static functions, ember's own copy).
// STB_IMAGE_STATIC makes every stbi_ function internal to each translation unit, so a user's own copy of stb_image
// cannot clash with it. Debian's libstb-dev puts it at <stb/stb_image.h>; elsewhere it is often <stb_image.h>.
#pragma once

#ifndef EMBER_STB_IMAGE_INCLUDED
#define EMBER_STB_IMAGE_INCLUDED
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#define STBI_FAILURE_USERMSG
#define STBI_NO_HDR
#define STBI_NO_PIC
#define STBI_NO_PNM
#define STBI_NO_PSD
#define STBI_NO_TGA
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wdouble-promotion"
#pragma GCC diagnostic ignored "-Wconversion"
#pragma GCC diagnostic ignored "-Wpedantic"
#if __has_include(<stb/stb_image.h>)
#include <stb/stb_image.h>
#elif __has_include(<stb_image.h>)
#include <stb_image.h>
#else
#error "ember's data stage needs stb_image.h (Debian: apt-get install libstb-dev)"
#endif
#pragma GCC diagnostic pop
#undef STB_IMAGE_IMPLEMENTATION
#endif
