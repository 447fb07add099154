# injector/: what runs in the pod (init/: meshcut-init) and in the API server's
# path (webhook/: meshcut-webhook).
include injector/init/build.mk
include injector/webhook/build.mk
