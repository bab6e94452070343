#ifndef BERTH_CPAM_H
#define BERTH_CPAM_H

#include <stddef.h>
#include <security/pam_appl.h>

/// Where a PAM transaction stopped.
typedef enum {
    BERTH_PAM_STAGE_START = 1,
    BERTH_PAM_STAGE_AUTHENTICATE = 2,
    BERTH_PAM_STAGE_ACCOUNT = 3,
    BERTH_PAM_STAGE_DONE = 4,
} berth_pam_stage;

/// What one PAM transaction found.
typedef struct {
    /// The PAM return code of the last call (PAM_SUCCESS when the user may sign in).
    int status;
    /// The stage that returned `status`.
    berth_pam_stage stage;
    /// The delay (microseconds) a module asked for after a failure; applied by the caller, asynchronously.
    unsigned int fail_delay_usec;
    /// Set when a module asked something other than the password (which the web form cannot answer).
    int unanswerable_prompt;
    /// The last error or info text a module sent, for the server log (never shown to the user as is).
    char message[256];
} berth_pam_result;

/// Runs pam_authenticate then pam_acct_mgmt for `user` with `password` under `service`.
/// `rhost` and `ruser` may be NULL. Blocks: call it off the event loop. Returns result->status.
int berth_pam_authenticate(const char *service, const char *user, const char *password, const char *rhost,
                           const char *tty, berth_pam_result *result);

/// Runs only pam_acct_mgmt (account expired, locked by a module, access denied) for an existing session.
int berth_pam_check_account(const char *service, const char *user, const char *rhost, berth_pam_result *result);

/// The text PAM gives for a return code.
const char *berth_pam_strerror(int status);

/// Whether the shadow entry of `user` is locked (password starting with '!') or expired (past its expiry day).
/// Returns 0 when usable, 1 when locked, 2 when expired, -1 when there is no such entry or it cannot be read.
int berth_shadow_state(const char *user);

/// Fills `gids` with the groups of `user` (primary `gid` included); returns how many, or -1 on error.
/// When there are more than `capacity`, returns the count needed without filling past `capacity`.
int berth_user_groups(const char *user, unsigned int gid, unsigned int *gids, int capacity);

#endif
