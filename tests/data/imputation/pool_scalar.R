# Reference values for tests/test_imputation.py: Rubin's rules and the Barnard-Rubin df
# from mice::pool.scalar (run by hand: R CMD BATCH --no-save --no-restore pool_scalar.R).
suppressPackageStartupMessages(library(mice))
cat("R", R.version$major, ".", R.version$minor, " mice ", as.character(packageVersion("mice")), "\n", sep = "")
options(digits = 15)
show <- function(label, Q, U, n, k = 1) {
  p <- pool.scalar(Q, U, n = n, k = k)
  cat(sprintf("%s qbar=%.15g ubar=%.15g b=%.15g t=%.15g df=%.15g r=%.15g fmi=%.15g\n",
              label, p$qbar, p$ubar, p$b, p$t, p$df, p$r, p$fmi))
}
show("case1", c(1, 2, 3), c(0.5, 0.5, 0.5), n = 11)
show("case2", c(82.1, 82.9, 81.7, 82.4, 83.0, 82.2, 81.9, 82.6, 82.8, 82.3),
     c(0.21, 0.24, 0.19, 0.22, 0.20, 0.23, 0.22, 0.21, 0.25, 0.20), n = 16)
show("case3", c(0.31, 0.35, 0.28, 0.33, 0.30), c(0.0012, 0.0015, 0.0011, 0.0013, 0.0014), n = Inf)
show("case4", c(5, 5, 5, 5), c(0.4, 0.5, 0.6, 0.5), n = 31)
show("case5", c(10.2, 11.5, 9.8, 12.1, 10.9, 11.3), c(1.1, 0.9, 1.3, 1.0, 1.2, 0.8), n = 6)
