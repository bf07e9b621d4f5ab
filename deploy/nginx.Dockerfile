# The load balancer of the `replicas` compose profile: Debian's nginx, built locally like the
# service's image (no registry image needed beyond the Debian base the service uses too).
FROM python:3.11-slim
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx-light \
 && rm -rf /var/lib/apt/lists/* \
 && ln -sf /dev/stdout /var/log/nginx/access.log && ln -sf /dev/stderr /var/log/nginx/error.log
COPY deploy/nginx.conf /etc/nginx/nginx.conf
EXPOSE 8080
HEALTHCHECK --interval=5s --timeout=3s --retries=5 CMD python3 -c "import urllib.request as u; u.urlopen('http://127.0.0.1:8080/api/v1/health', timeout=2)"
CMD ["nginx", "-g", "daemon off;"]
