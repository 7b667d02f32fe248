/* Prints the ABI facts of uapi/omss.h as "name value" lines for tests/abi.rs. */
#include <stddef.h>
#include <stdio.h>
#include "../omss.h"

#define P(name, val) printf("%s %llu\n", name, (unsigned long long)(val))
#define F(s, f) do { P(#s "." #f ".offset", offsetof(struct s, f)); \
		     P(#s "." #f ".size", sizeof(((struct s *)0)->f)); } while (0)

int main(void)
{
	P("OMSS_ABI_VERSION", OMSS_ABI_VERSION);
	P("OMSS_IOC_MAGIC", OMSS_IOC_MAGIC);
	P("OMSS_IOC_VERSION", OMSS_IOC_VERSION);
	P("omss_version.size_of", sizeof(struct omss_version));
	F(omss_version, size);
	F(omss_version, abi_version);
	F(omss_version, nr_classes);
	F(omss_version, ring_default);
	F(omss_version, ring_max);
	F(omss_version, reserved);
	return 0;
}
