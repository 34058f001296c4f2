#!/bin/bash
# Which pattern carries the model's per-head attention overhead at 128K: all heads one pattern.
set -u
cd "$(dirname "$0")"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
export SPARSEFILL_CACHE_DIR=/tmp/sfc
M=/tmp/models; mkdir -p $M
python3 make_checkpoint.py --arch llama --tie-embeddings no --out $M/llama > /dev/null 2>&1
python3 -c "import random; random.seed(131000); print(''.join(random.choice('abcdefgijklmnopqrsuvwxyz ') for _ in range(131000)), end='')" > $M/p.txt
for pat in vs a; do
python3 -c "import json,sys; c=json.load(open(sys.argv[1])); h=c['num_attention_heads']; p={'vs':{'pattern':'vertical_slash','vertical':1000,'slash':6096},'a':{'pattern':'a_shape','n_init':128,'n_local':4096}}[sys.argv[2]]; print(json.dumps({'format':'sparsefill-patterns/1','layers':[[p]*h for _ in range(c['num_hidden_layers'])]}))" $M/llama/config.json $pat > $M/$pat.json
  for run in cold warm profile; do
    fl=(); [ $run = warm ] && fl=(--repeat-prefill 2); [ $run = profile ] && fl=(--profile)
    timeout 200 bin/sparsefill generate --model $M/llama --prompt-file $M/p.txt --device cuda --max-new-tokens 1 --patterns $M/$pat.json "${fl[@]}" 2>$OUT/$pat-$run.log >/dev/null
    echo "== $pat $run: $(tr '\r' '\n' < $OUT/$pat-$run.log | grep -E 'time to first' | tail -1)"; grep "pre-fill again" $OUT/$pat-$run.log
  done
  grep -E "attention|total" $OUT/$pat-profile.log
done
