#define _GNU_SOURCE
#include "cpam.h"

#include <grp.h>
#include <security/pam_appl.h>
#include <shadow.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

typedef struct {
    const char *password;
    berth_pam_result *result;
} conversation_data;

static void remember_message(berth_pam_result *result, const char *text) {
    if (text == NULL) return;
    strncpy(result->message, text, sizeof(result->message) - 1);
    result->message[sizeof(result->message) - 1] = '\0';
}

/// Answers the password prompt with the password; any other question fails the conversation, since a web form
/// cannot answer it (a one-time code, a new password).
static int conversation(int count, const struct pam_message **messages, struct pam_response **responses,
                        void *appdata) {
    conversation_data *data = appdata;
    if (count <= 0 || count > PAM_MAX_NUM_MSG) return PAM_CONV_ERR;
    struct pam_response *answers = calloc((size_t)count, sizeof(struct pam_response));
    if (answers == NULL) return PAM_BUF_ERR;
    for (int i = 0; i < count; i++) {
        switch (messages[i]->msg_style) {
        case PAM_PROMPT_ECHO_OFF:
            if (data->password == NULL) goto fail;
            answers[i].resp = strdup(data->password);
            if (answers[i].resp == NULL) goto fail;
            data->password = NULL;  // answer one password prompt only: a second one is a new-password dialogue
            break;
        case PAM_ERROR_MSG:
        case PAM_TEXT_INFO:
            remember_message(data->result, messages[i]->msg);
            break;
        default:
            data->result->unanswerable_prompt = 1;
            remember_message(data->result, messages[i]->msg);
            goto fail;
        }
    }
    *responses = answers;
    return PAM_SUCCESS;
fail:
    for (int i = 0; i < count; i++) {
        if (answers[i].resp != NULL) {
            explicit_bzero(answers[i].resp, strlen(answers[i].resp));
            free(answers[i].resp);
        }
    }
    free(answers);
    return PAM_CONV_ERR;
}

/// pam_unix asks for a delay after a failure; with this callback libpam hands it to us instead of sleeping.
static void fail_delay(int status, unsigned int usec, void *appdata) {
    conversation_data *data = appdata;
    if (status != PAM_SUCCESS && usec > data->result->fail_delay_usec) data->result->fail_delay_usec = usec;
}

static int start(const char *service, const char *user, conversation_data *data, pam_handle_t **handle) {
    struct pam_conv conv = {conversation, data};
    int status = pam_start(service, user, &conv, handle);
    data->result->stage = BERTH_PAM_STAGE_START;
    data->result->status = status;
    if (status != PAM_SUCCESS) return status;
    status = pam_set_item(*handle, PAM_FAIL_DELAY, (const void *)fail_delay);
    if (status != PAM_SUCCESS) return status;
    return PAM_SUCCESS;
}

int berth_pam_authenticate(const char *service, const char *user, const char *password, const char *rhost,
                           const char *tty, berth_pam_result *result) {
    memset(result, 0, sizeof(*result));
    conversation_data data = {password, result};
    pam_handle_t *handle = NULL;
    int status = start(service, user, &data, &handle);
    if (status == PAM_SUCCESS && rhost != NULL) status = pam_set_item(handle, PAM_RHOST, rhost);
    if (status == PAM_SUCCESS && tty != NULL) status = pam_set_item(handle, PAM_TTY, tty);
    if (status == PAM_SUCCESS) {
        result->stage = BERTH_PAM_STAGE_AUTHENTICATE;
        status = pam_authenticate(handle, PAM_DISALLOW_NULL_AUTHTOK);
    }
    if (status == PAM_SUCCESS) {
        result->stage = BERTH_PAM_STAGE_ACCOUNT;
        status = pam_acct_mgmt(handle, PAM_DISALLOW_NULL_AUTHTOK);
    }
    if (status == PAM_SUCCESS) result->stage = BERTH_PAM_STAGE_DONE;
    result->status = status;
    if (handle != NULL) pam_end(handle, status);
    return status;
}

int berth_pam_check_account(const char *service, const char *user, const char *rhost, berth_pam_result *result) {
    memset(result, 0, sizeof(*result));
    conversation_data data = {NULL, result};
    pam_handle_t *handle = NULL;
    int status = start(service, user, &data, &handle);
    if (status == PAM_SUCCESS && rhost != NULL) status = pam_set_item(handle, PAM_RHOST, rhost);
    if (status == PAM_SUCCESS) {
        result->stage = BERTH_PAM_STAGE_ACCOUNT;
        status = pam_acct_mgmt(handle, 0);
    }
    if (status == PAM_SUCCESS) result->stage = BERTH_PAM_STAGE_DONE;
    result->status = status;
    if (handle != NULL) pam_end(handle, status);
    return status;
}

const char *berth_pam_strerror(int status) {
    return pam_strerror(NULL, status);
}

int berth_shadow_state(const char *user) {
    struct spwd entry;
    struct spwd *found = NULL;
    char buffer[4096];
    if (getspnam_r(user, &entry, buffer, sizeof(buffer), &found) != 0 || found == NULL) return -1;
    if (found->sp_pwdp != NULL && found->sp_pwdp[0] == '!') return 1;
    if (found->sp_expire >= 0) {
        long today = (long)(time(NULL) / 86400);
        if (today >= found->sp_expire) return 2;
    }
    return 0;
}

int berth_user_groups(const char *user, unsigned int gid, unsigned int *gids, int capacity) {
    int count = capacity;
    if (getgrouplist(user, (gid_t)gid, (gid_t *)gids, &count) == -1) return count > capacity ? count : -1;
    return count;
}
