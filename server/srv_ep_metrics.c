/*
 * srv_ep_metrics.c - GET /metrics: Prometheus text exposition format.
 */
#include <stdlib.h>

#include "srv_metrics.h"
#include "srv_routes.h"

enum MHD_Result srv_ep_metrics(struct srv_request *req)
{
  size_t len = 0;
  char *text = srv_metrics_render(&len);
  enum MHD_Result ret;

  if (!text)
    return srv_reply_error(req, SRV_ERR_INTERNAL, NULL);
  ret = srv_reply_text(req, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", text,
                       len);
  free(text);
  return ret;
}
