/* Addresses, CIDRs and port lists as the pod registry stores them (bpf/pods.h):
 * strict parsers shared by the agent, meshcut-init and the webhook. Every
 * parser returns 0 or -1 with a message in err (never a partial result). */
#ifndef MESHCUT_ADDR_H
#define MESHCUT_ADDR_H

#include <linux/types.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "pods.h"

#define MC_ERRLEN 160

/* "10.0.0.1" (stored v4-mapped) or "fd00::1" */
int mc_parse_ip(const char *s, struct mc_addr *out, char err[MC_ERRLEN]);
/* "10.0.0.0/8", "fd00::/64", or a bare address (= /32 or /128) */
int mc_parse_cidr(const char *s, struct mc_cidr *out, char err[MC_ERRLEN]);
/* "15090,15021" or "15000-15010" ranges; "" = empty; "*" = all (sets *all) */
int mc_parse_ports(const char *s, uint16_t *ports, size_t max, size_t *n, bool *all,
		   char err[MC_ERRLEN]);
/* "10.0.0.0/8,fd00::/8"; "" = empty; "*" = all (sets *all) */
int mc_parse_cidrs(const char *s, struct mc_cidr *cidrs, size_t max, size_t *n, bool *all,
		   char err[MC_ERRLEN]);
/* "aa:bb:cc:dd:ee:ff" */
int mc_parse_mac(const char *s, uint8_t mac[6], char err[MC_ERRLEN]);

bool mc_addr_v4(const struct mc_addr *a);
bool mc_addr_zero(const struct mc_addr *a);
/* text form (IPv4 for v4-mapped); buf must hold INET6_ADDRSTRLEN */
const char *mc_format_ip(const struct mc_addr *a, char *buf, size_t len);

#endif
