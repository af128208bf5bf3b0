/*
 * bench-audit-load - a closed-loop HTTP load generator for bench/audit:
 * CONCURRENCY threads, each with its own keep-alive connection, POST the
 * same small JSON body to URL as fast as the server answers, for SECONDS.
 * Prints one line:  requests N errors E seconds S rate R
 *
 * usage: bench-audit-load -u URL [-c CONCURRENCY] [-t SECONDS]
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

static const char *url;
static double seconds = 5;
static atomic_long done, errors;
static struct timespec t0;

static double elapsed(void)
{
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) / 1e9;
}

static size_t sink(char *p, size_t sz, size_t n, void *ud)
{
  (void)p;
  (void)ud;
  return sz * n;
}

static void *worker(void *arg)
{
  long id = (long)(intptr_t)arg, i = 0;
  CURL *c = curl_easy_init();
  struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
  char body[96];

  if (!c || !h)
    return NULL;
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
  while (elapsed() < seconds) {
    long status = 0;
    snprintf(body, sizeof body, "{\"object\":\"bench:%ld:%ld\"}", id, i++);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    if (curl_easy_perform(c) == CURLE_OK &&
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK && status == 200)
      atomic_fetch_add(&done, 1);
    else
      atomic_fetch_add(&errors, 1);
  }
  curl_slist_free_all(h);
  curl_easy_cleanup(c);
  return NULL;
}

int main(int argc, char **argv)
{
  int conc = 8, opt;
  pthread_t th[256];
  double secs;

  while ((opt = getopt(argc, argv, "u:c:t:")) != -1) {
    switch (opt) {
      case 'u': url = optarg; break;
      case 'c': conc = atoi(optarg); break;
      case 't': seconds = atof(optarg); break;
      default: goto usage;
    }
  }
  if (!url || conc < 1 || conc > 256 || seconds <= 0)
    goto usage;
  curl_global_init(CURL_GLOBAL_DEFAULT);
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (int i = 0; i < conc; i++)
    if (pthread_create(&th[i], NULL, worker, (void *)(intptr_t)i) != 0)
      return 1;
  for (int i = 0; i < conc; i++)
    pthread_join(th[i], NULL);
  secs = elapsed();
  printf("requests %ld errors %ld seconds %.2f rate %.1f\n", (long)done, (long)errors, secs,
         (double)done / secs);
  curl_global_cleanup();
  return errors > done / 100 ? 1 : 0;
usage:
  fprintf(stderr, "usage: bench-audit-load -u URL [-c CONCURRENCY] [-t SECONDS]\n");
  return 2;
}
