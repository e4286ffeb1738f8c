// srtreject dials an SRT listener with libsrt, as srt-live-transmit, ffmpeg and OBS do, and prints the
// rejection reason libsrt reports: "rejected <code> <text>", or "connected".
// Usage: srtreject <host> <port> <streamid>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <srt/srt.h>

int main(int argc, char **argv) {
	if (argc != 4) {
		fprintf(stderr, "usage: srtreject <host> <port> <streamid>\n");
		return 2;
	}
	srt_startup();
	srt_setloglevel(2); // errors only
	SRTSOCKET s = srt_create_socket();
	if (srt_setsockflag(s, SRTO_STREAMID, argv[3], (int)strlen(argv[3])) == SRT_ERROR) {
		fprintf(stderr, "streamid: %s\n", srt_getlasterror_str());
		return 2;
	}
	int timeout = 5000;
	srt_setsockflag(s, SRTO_CONNTIMEO, &timeout, sizeof timeout);
	struct sockaddr_in sa;
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons((unsigned short)atoi(argv[2]));
	if (inet_pton(AF_INET, argv[1], &sa.sin_addr) != 1) {
		fprintf(stderr, "bad address %s\n", argv[1]);
		return 2;
	}
	if (srt_connect(s, (struct sockaddr *)&sa, sizeof sa) == SRT_ERROR) {
		int reason = srt_getrejectreason(s);
		printf("rejected %d %s\n", reason, srt_rejectreason_str(reason));
		srt_close(s);
		srt_cleanup();
		return 0;
	}
	printf("connected\n");
	srt_close(s);
	srt_cleanup();
	return 0;
}
