/* placeholder until the CLI lands. */
#include <stdio.h>
int main(void)
{
	fprintf(stderr, "ckpt: not implemented yet\n");
	return 1;
}
