/* Replay fuzz inputs without libFuzzer, so GCC builds (and ASan/UBSan CI)
 * run the corpus: `fuzz_x < input`, or `fuzz_x file...`. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define REPLAY_MAX (1024 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay(FILE *fp, const char *name)
{
	uint8_t *buf = malloc(REPLAY_MAX);
	size_t len;

	if (!buf) {
		fprintf(stderr, "%s: out of memory\n", name);
		return 1;
	}
	len = fread(buf, 1, REPLAY_MAX, fp);
	if (ferror(fp)) {
		fprintf(stderr, "%s: read error\n", name);
		free(buf);
		return 1;
	}
	if (len == REPLAY_MAX && fgetc(fp) != EOF)
		fprintf(stderr, "%s: input truncated to %d bytes\n", name, REPLAY_MAX);
	LLVMFuzzerTestOneInput(buf, len);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	int i, rc = 0;

	if (argc < 2)
		return replay(stdin, "<stdin>");
	for (i = 1; i < argc; i++) {
		FILE *fp = fopen(argv[i], "rb");

		if (!fp) {
			perror(argv[i]);
			rc = 1;
			continue;
		}
		rc |= replay(fp, argv[i]);
		fclose(fp);
	}
	return rc;
}
