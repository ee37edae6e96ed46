/*
 * On the include path of job/core and job/numeric only (see the Makefile):
 * those layers know nothing of PostgreSQL or YAML, so including libpq-fe.h there
 * is a build error, not a convention.
 */
#error "job/core and job/numeric must not include libpq-fe.h: only job/db may use libpq, only job/config libyaml"
