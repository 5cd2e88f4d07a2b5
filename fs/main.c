/* placeholder until the FUSE driver lands: refuses to pretend it mounts. */
#include <stdio.h>
int main(void)
{
	fprintf(stderr, "ckptfs: the mount is not implemented yet\n");
	return 1;
}
