/* version: the one version number of latchkey's programs and packages. */
#ifndef LATCHKEY_VERSION_H
#define LATCHKEY_VERSION_H

#define LATCHKEY_VERSION	"0.1"

#endif
