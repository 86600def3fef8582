/*
 * The systemd readiness protocol without libsystemd: when NOTIFY_SOCKET is
 * set, a state line ("READY=1", "STOPPING=1") is sent as one datagram to
 * that Unix socket (in the abstract namespace when the name starts with
 * '@'). Without NOTIFY_SOCKET nothing happens.
 */
#ifndef CFD_NOTIFY_H
#define CFD_NOTIFY_H

/* Send state (borrowed) to the service manager. 0 when sent or not asked
 * for; -1 (errno set) when the socket cannot be reached. */
int cfd_notify(const char *state);

#endif
